--- Batch transforms: each maker returns a function(images, labels) ->
-- images [, labels] working on a whole batch images [B, C, H, W] with
-- tensor ops (no loop over the images in Lua). Random ones draw from the
-- global RNG, so mg.manual_seed makes them repeat. Use them as a
-- DataLoader's transform, or call them on any batch.
-- @module moongrad.data.transforms
-- @alias T
-- @usage local T = mg.data.transforms
-- local augment = T.compose{T.random_crop(28, {padding = 2}), T.random_flip()}
-- local loader = mg.data.DataLoader(ds, {batch_size = 64, transform = augment})
-- local x = T.normalize(0.5, 0.5)(images)
local mg = require "moongrad"

local T = {}

-- Checks that x is a float32 batch [B, C, H, W]; returns B, C, H, W.
local function batch_dims(x, op)
  if not mg.is_tensor(x) then error(op .. ": expected a Tensor batch [B, C, H, W], got " .. type(x), 3) end
  if x:dim() ~= 4 then
    error(string.format("%s: expected a batch [B, C, H, W], got [%s]", op, table.concat(x:shape(), ", ")), 3)
  end
  if x.dtype ~= "float32" then error(op .. ": expected float32 images, got " .. x.dtype, 3) end
  return x:size(1), x:size(2), x:size(3), x:size(4)
end

local function check_opts(op, opts, allowed)
  return require("moongrad.options").check(op, opts, allowed, 4)
end

local function check_prob(op, p)
  if type(p) ~= "number" or p < 0 or p > 1 then
    error(op .. ": p must be a probability in [0, 1], got " .. tostring(p), 3)
  end
end

-- A [B, 1, 1, 1] mask of 1 with probability p per sample (float32).
local function coin(b, p) return mg.lt(mg.rand(b, 1, 1, 1), p) end

--- Applies transforms in turn.
-- @tparam {function,...} list the transforms
-- @treturn function a transform
function T.compose(list)
  if type(list) ~= "table" then error("compose: expected a list of transforms, got " .. type(list), 2) end
  for i, t in ipairs(list) do
    if type(t) ~= "function" and not (getmetatable(t) or {}).__call then
      error(string.format("compose: transform %d is a %s, expected a function", i, type(t)), 2)
    end
  end
  return function(x, y)
    for _, t in ipairs(list) do
      local nx, ny = t(x, y)
      x = nx
      if ny ~= nil then y = ny end
    end
    return x, y
  end
end

--- (x - mean) / std, per channel when mean and std are lists of C numbers.
-- normalize(0.5, 0.5) maps [0, 1] to [-1, 1].
-- @tparam number|{number,...} mean
-- @tparam number|{number,...} std
-- @treturn function a transform
function T.normalize(mean, std)
  local function as_tensor(v, what)
    if type(v) == "number" then return v, 1 end
    if type(v) == "table" and #v > 0 then
      for _, e in ipairs(v) do
        if type(e) ~= "number" then error("normalize: " .. what .. " must hold numbers", 3) end
      end
      return mg.tensor(v):view(1, #v, 1, 1), #v
    end
    error("normalize: " .. what .. " must be a number or a list of numbers per channel, got " .. type(v), 3)
  end
  local m, nm = as_tensor(mean, "mean")
  local s, ns = as_tensor(std, "std")
  for _, v in ipairs(type(std) == "table" and std or { std }) do
    if v == 0 then error("normalize: std must not be 0", 2) end
  end
  return function(x, y)
    local _, c = batch_dims(x, "normalize")
    if (nm > 1 and nm ~= c) or (ns > 1 and ns ~= c) then
      error(string.format("normalize: %d means and %d stds for %d channels", nm, ns, c), 2)
    end
    return (x - m) / s, y
  end
end

--- Every image turned by k quarter turns (counter-clockwise, as rot90 from
-- the row dim towards the column dim).
-- @int k
-- @treturn function a transform
function T.rotate90(k)
  k = k or 1
  if math.type(k) ~= "integer" then error("rotate90: k must be an integer, got " .. tostring(k), 2) end
  return function(x, y)
    batch_dims(x, "rotate90")
    return x:rot90(k % 4, 3, 4), y
  end
end

-- The four rotations of a square batch: r[j] turned by j quarter turns.
local function four_rotations(x, op)
  local _, _, h, w = batch_dims(x, op)
  if h ~= w then error(string.format("%s: images must be square, got %dx%d", op, h, w), 3) end
  return { [0] = x, x:rot90(1, 3, 4), x:rot90(2, 3, 4), x:rot90(3, 3, 4) }
end

--- Each image turned by a random multiple of 90 degrees (0, 90, 180 or
-- 270, equally likely). Square images only.
-- @treturn function a transform
function T.random_rotate90()
  return function(x, y)
    local r = four_rotations(x, "random_rotate90")
    local k = mg.randint(0, 4, x:size(1)):float():view(-1, 1, 1, 1)
    local out = r[0]
    for j = 1, 3 do out = mg.where(mg.eq(k, j), r[j], out) end
    return out, y
  end
end

--- The rotation pretext task: a batch of B images becomes 4B, all images at
-- 0, then 90, 180 and 270 degrees, and the labels become the rotation
-- class, 1..4 (1 = not turned). Square images only.
-- @treturn function a transform
function T.rotations()
  return function(x)
    local r = four_rotations(x, "rotations")
    local b = x:size(1)
    local labels = mg.cat({ mg.full({ b }, 1), mg.full({ b }, 2), mg.full({ b }, 3), mg.full({ b }, 4) }):long()
    return mg.cat({ r[0], r[1], r[2], r[3] }, 1), labels
  end
end

-- [1, 1, H, W] float mask of the central rows x cols block.
local function center_block(h, w, rows, cols)
  local top, left = (h - rows) // 2, (w - cols) // 2
  local ri = mg.arange(0, h):float():view(1, 1, h, 1)
  local ci = mg.arange(0, w):float():view(1, 1, 1, w)
  return mg.ge(ri, top) * mg.lt(ri, top + rows) * mg.ge(ci, left) * mg.lt(ci, left + cols)
end

--- Sets the central block of every image to value (the block is centred,
-- rounding towards the top left when H - rows or W - cols is odd).
-- @tparam table opts `{size = s}` or `{rows = r, cols = c}`, and `value = 0`
-- @treturn function a transform
function T.center_mask(opts)
  opts = check_opts("center_mask", opts, { size = true, rows = true, cols = true, value = true })
  local rows, cols = opts.rows or opts.size, opts.cols or opts.size
  for _, v in ipairs({ rows or false, cols or false }) do
    if math.type(v) ~= "integer" or v < 0 then
      error("center_mask: give size (or rows and cols) as integers >= 0", 2)
    end
  end
  local value = opts.value or 0
  local cache = {}
  return function(x, y)
    local _, _, h, w = batch_dims(x, "center_mask")
    if rows > h or cols > w then
      error(string.format("center_mask: a %dx%d block does not fit %dx%d images", rows, cols, h, w), 2)
    end
    local key = h .. "x" .. w
    cache[key] = cache[key] or center_block(h, w, rows, cols)
    return x:masked_fill(cache[key], value), y
  end
end

--- With probability p per image, sets a random rectangle to value; its area
-- is a uniform fraction in scale of the image, its aspect (height/width)
-- log-uniform in ratio, its place uniform inside the image. A pixel is
-- erased when its centre lies inside the rectangle.
-- @tparam[opt] table opts `{p = 0.5, scale = {0.02, 0.33}, ratio = {0.3, 3.3}, value = 0}`
-- @treturn function a transform
function T.random_erase(opts)
  opts = check_opts("random_erase", opts, { p = true, scale = true, ratio = true, value = true })
  local p = opts.p or 0.5
  check_prob("random_erase", p)
  local scale, ratio = opts.scale or { 0.02, 0.33 }, opts.ratio or { 0.3, 3.3 }
  if type(scale) ~= "table" or not (scale[1] and scale[2] and 0 <= scale[1] and scale[1] <= scale[2]
    and scale[2] <= 1) then
    error("random_erase: scale must be {lo, hi} with 0 <= lo <= hi <= 1", 2)
  end
  if type(ratio) ~= "table" or not (ratio[1] and ratio[2] and 0 < ratio[1] and ratio[1] <= ratio[2]) then
    error("random_erase: ratio must be {lo, hi} with 0 < lo <= hi", 2)
  end
  local value = opts.value or 0
  local lr0, lr1 = math.log(ratio[1]), math.log(ratio[2])
  return function(x, y)
    local b, _, h, w = batch_dims(x, "random_erase")
    local area = (mg.rand(b, 1, 1, 1) * (scale[2] - scale[1]) + scale[1]) * (h * w)
    local aspect = (mg.rand(b, 1, 1, 1) * (lr1 - lr0) + lr0):exp()
    local eh = (area * aspect):sqrt():clamp(0, h)
    local ew = (area / aspect):sqrt():clamp(0, w)
    local top = mg.rand(b, 1, 1, 1) * (h - eh)
    local left = mg.rand(b, 1, 1, 1) * (w - ew)
    local ri = mg.arange(0, h):float():view(1, 1, h, 1) + 0.5
    local ci = mg.arange(0, w):float():view(1, 1, 1, w) + 0.5
    local mask = mg.ge(ri, top) * mg.lt(ri, top + eh) * mg.ge(ci, left) * mg.lt(ci, left + ew) * coin(b, p)
    return x:masked_fill(mask, value), y
  end
end

--- x + std * N(0, 1) per pixel, then clamped when clamp is given.
-- @number std
-- @tparam[opt] table opts `{clamp = {lo, hi}}`, e.g. {0, 1}
-- @treturn function a transform
function T.gaussian_noise(std, opts)
  if type(std) ~= "number" or std < 0 then
    error("gaussian_noise: std must be a number >= 0, got " .. tostring(std), 2)
  end
  opts = check_opts("gaussian_noise", opts, { clamp = true })
  local lim = opts.clamp
  if lim ~= nil and (type(lim) ~= "table" or type(lim[1]) ~= "number" or type(lim[2]) ~= "number") then
    error("gaussian_noise: clamp must be {lo, hi}", 2)
  end
  return function(x, y)
    batch_dims(x, "gaussian_noise")
    local out = x + mg.randn_like(x) * std
    if lim then out = out:clamp(lim[1], lim[2]) end
    return out, y
  end
end

-- [B, 1, n, m] 0/1 matrices S with S[b, i, j] = 1 where j = i + shift[b]
-- (shift [B, 1, 1, 1] float, integral).
local function shift_matrix(shift, n, m)
  local i = mg.arange(0, n):float():view(1, 1, n, 1)
  local j = mg.arange(0, m):float():view(1, 1, 1, m)
  return mg.eq(j, i + shift)
end

--- A random size x size window of each image padded with `padding` zeros
-- on every side; the window's place is uniform and independent per image.
-- With size equal to the image size this shifts each image by up to
-- `padding` pixels.
-- @tparam int|{int,int} size
-- @tparam[opt] table opts `{padding = 0}`
-- @treturn function a transform
function T.random_crop(size, opts)
  opts = check_opts("random_crop", opts, { padding = true })
  local sh, sw
  if type(size) == "table" then sh, sw = size[1], size[2] else sh, sw = size, size end
  if math.type(sh) ~= "integer" or math.type(sw) ~= "integer" or sh < 1 or sw < 1 then
    error("random_crop: size must be a positive integer or {h, w}, got " .. tostring(size), 2)
  end
  local pad = opts.padding or 0
  if math.type(pad) ~= "integer" or pad < 0 then
    error("random_crop: padding must be an integer >= 0, got " .. tostring(pad), 2)
  end
  return function(x, y)
    local b, _, h, w = batch_dims(x, "random_crop")
    if sh > h + 2 * pad or sw > w + 2 * pad then
      error(string.format("random_crop: a %dx%d window does not fit %dx%d images padded by %d", sh, sw, h, w, pad), 2)
    end
    -- window origin in padded coordinates, 0..h + 2*pad - sh; row i of the
    -- output is row i + origin - pad of the image (none: a padding zero)
    local oy = mg.randint(0, h + 2 * pad - sh + 1, b):float():view(b, 1, 1, 1)
    local ox = mg.randint(0, w + 2 * pad - sw + 1, b):float():view(b, 1, 1, 1)
    local rows = shift_matrix(oy - pad, sh, h)                 -- [B, 1, sh, h]
    local cols = shift_matrix(ox - pad, sw, w):transpose(3, 4) -- [B, 1, w, sw]
    return mg.matmul(mg.matmul(rows, x), cols), y
  end
end

--- Each image mirrored left-right with probability p.
-- @tparam[opt] table opts `{p = 0.5}`
-- @treturn function a transform
function T.random_flip(opts)
  opts = check_opts("random_flip", opts, { p = true })
  local p = opts.p or 0.5
  check_prob("random_flip", p)
  return function(x, y)
    local b = batch_dims(x, "random_flip")
    return mg.where(coin(b, p), x:flip(4), x), y
  end
end

-- The random augmentations of the contrastive pretext tasks (C kernels):
-- random_affine, random_resized_crop, random_rotation, random_translation,
-- color_jitter, gaussian_blur, cutout and the contrastive pipeline.
for name, fn in pairs(require "moongrad.data.augment") do T[name] = fn end

return T
