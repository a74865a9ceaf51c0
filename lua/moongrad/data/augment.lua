--- Random augmentations for self-supervised learning, on C kernels
-- (mg.affine_warp, mg.color_jitter, mg.gaussian_blur, mg.cutout): each
-- image of a batch [B, C, H, W] draws its own parameters from the global
-- RNG, so mg.manual_seed repeats them. Part of mg.data.transforms, with the
-- same form: a transform is function(images, labels) -> images, labels.
--
-- The geometric ones (random resized crop, rotation, translation) are one
-- affine map per image, so random_affine, which combines them, resamples
-- once. contrastive is the SimCLR-style pipeline for grey digits and
-- clothes (no horizontal flip unless asked for).
-- @module moongrad.data.transforms
-- @alias A
-- @usage local augment = mg.data.transforms.contrastive()
-- local v1, v2 = augment(images), augment(images) -- two random views
local mg = require "moongrad"

local A = {}

local function batch_dims(x, op)
  if not mg.is_tensor(x) then error(op .. ": expected a Tensor batch [B, C, H, W], got " .. type(x), 3) end
  if x:dim() ~= 4 then
    error(string.format("%s: expected a batch [B, C, H, W], got [%s]", op, table.concat(x:shape(), ", ")), 3)
  end
  return x:size(1), x:size(2), x:size(3), x:size(4)
end

local check_opts = mg.check_options

-- A {lo, hi} range option with lo <= hi inside [min, max] (a number v
-- means {v, v}); `default` when absent, false when given as false.
local function range(op, name, v, default, min, max)
  if v == nil then v = default end
  if v == false then return false end
  if type(v) == "number" then v = { v, v } end
  if type(v) ~= "table" or type(v[1]) ~= "number" or type(v[2]) ~= "number" or v[1] > v[2]
      or v[1] < min or v[2] > max then
    error(string.format("%s: %s must be {lo, hi} with %g <= lo <= hi <= %g, got %s", op, name, min, max,
      type(v) == "table" and ("{" .. tostring(v[1]) .. ", " .. tostring(v[2]) .. "}") or tostring(v)), 3)
  end
  return v
end

local function number(op, name, v, default, min, max)
  if v == nil then v = default end
  if type(v) ~= "number" or v < min or v > max then
    error(string.format("%s: %s must be a number in [%g, %g], got %s", op, name, min, max, tostring(v)), 3)
  end
  return v
end

local function lerp(r, u) return r[1] + (r[2] - r[1]) * u end

-- ---- geometry: crop, rotation, translation as one warp ----------------------------

-- The affine parameters of one image (see mg.affine_warp; coordinates from
-- the image centre): the output is the crop box (centre bx, by from the
-- image centre; size cw x ch) resized to H x W, then turned by `angle`
-- radians about the centre, then shifted by (tx, ty) pixels. Output pixel
-- (u, v) reads the input at b + S R (u - tx, v - ty), S = diag(cw / W,
-- ch / H), R the rotation by -angle.
local function affine_row(H, W, bx, by, cw, ch, angle, tx, ty)
  local sx, sy = cw / W, ch / H
  local c, s = math.cos(angle), math.sin(angle)
  local a11, a12, a21, a22 = sx * c, sx * s, -sy * s, sy * c
  return { a11, a12, bx - a11 * tx - a12 * ty, a21, a22, by - a21 * tx - a22 * ty }
end

--- Random resized crop, rotation and shift in one resampling. Per image:
-- a crop box of area fraction uniform in crop.scale and aspect
-- (width/height) log-uniform in crop.ratio, placed uniformly inside the
-- image and resized back to H x W (bilinear); then a rotation by an angle
-- uniform in [-degrees, degrees]; then a shift by up to translate * W
-- columns and translate * H rows each way; `fill` where no pixel is.
-- @tparam[opt] table opts `{crop = {scale = {0.3, 1}, ratio = {3/4, 4/3}}, degrees = 0,
--   translate = 0, fill = 0}`; crop = false: no crop
-- @treturn function a transform
function A.random_affine(opts)
  local op = "random_affine"
  opts = check_opts(op, opts, { crop = true, degrees = true, translate = true, fill = true })
  local crop = opts.crop
  local scale, ratio
  if crop ~= false then
    crop = check_opts(op, crop or {}, { scale = true, ratio = true })
    scale = range(op, "crop.scale", crop.scale, { 0.3, 1 }, 0, 1)
    ratio = range(op, "crop.ratio", crop.ratio, { 3 / 4, 4 / 3 }, 1e-3, 1e3)
    if scale[1] <= 0 then error(op .. ": crop.scale must be > 0", 2) end
  end
  local degrees = number(op, "degrees", opts.degrees, 0, 0, 180)
  local translate = number(op, "translate", opts.translate, 0, 0, 1)
  local fill = number(op, "fill", opts.fill, 0, -math.huge, math.huge)
  local lr = ratio and { math.log(ratio[1]), math.log(ratio[2]) }
  return function(x, y)
    local b, _, h, w = batch_dims(x, op)
    if b == 0 then return x, y end
    local u = mg.rand(b, 7):totable()
    local rows = {}
    for k = 1, b do
      local r = u[k]
      local bx, by, cw, ch = 0, 0, w, h
      if scale then
        local area = lerp(scale, r[1]) * h * w
        local aspect = math.exp(lerp(lr, r[2]))
        cw = math.min(w, math.sqrt(area * aspect))
        ch = math.min(h, math.sqrt(area / aspect))
        bx = (w - cw) * (r[3] - 0.5) -- the box's centre, anywhere that keeps it inside
        by = (h - ch) * (r[4] - 0.5)
      end
      local angle = math.rad(degrees * (2 * r[5] - 1))
      local tx, ty = translate * w * (2 * r[6] - 1), translate * h * (2 * r[7] - 1)
      rows[k] = affine_row(h, w, bx, by, cw, ch, angle, tx, ty)
    end
    return mg.affine_warp(x, mg.tensor(rows), { fill = fill }), y
  end
end

--- The crop of random_affine alone: a random box resized back to the
-- image's size (bilinear).
-- @tparam[opt] table opts `{scale = {0.3, 1}, ratio = {3/4, 4/3}}`
-- @treturn function a transform
function A.random_resized_crop(opts)
  check_opts("random_resized_crop", opts, { scale = true, ratio = true })
  return A.random_affine { crop = opts or {} }
end

--- Each image turned by an angle uniform in [-degrees, degrees] about its
-- centre (bilinear).
-- @tparam[opt] table opts `{degrees = 15, fill = 0}`
-- @treturn function a transform
function A.random_rotation(opts)
  opts = check_opts("random_rotation", opts, { degrees = true, fill = true })
  return A.random_affine { crop = false, degrees = opts.degrees or 15, fill = opts.fill }
end

--- Each image shifted by up to max * W columns and max * H rows each way
-- (uniform, sub-pixel, bilinear).
-- @tparam[opt] table opts `{max = 0.1, fill = 0}`
-- @treturn function a transform
function A.random_translation(opts)
  opts = check_opts("random_translation", opts, { max = true, fill = true })
  return A.random_affine { crop = false, translate = opts.max or 0.1, fill = opts.fill }
end

-- ---- photometric -------------------------------------------------------------------

-- Per-image factors: uniform in [1 - s, 1 + s] with probability p, else 1.
local function factors(u, s, p)
  local f = {}
  for k, r in ipairs(u) do f[k] = r[1] < p and 1 + s * (2 * r[2] - 1) or 1 end
  return mg.tensor(f)
end

--- Brightness and contrast jitter: with probability p per image, the
-- pixels times a factor uniform in [1 - brightness, 1 + brightness], then
-- the contrast about the image's mean scaled by a factor uniform in
-- [1 - contrast, 1 + contrast]; clamped to `clamp` (false: not clamped).
-- @tparam[opt] table opts `{brightness = 0.4, contrast = 0.4, p = 0.8, clamp = {0, 1}}`
-- @treturn function a transform
function A.color_jitter(opts)
  local op = "color_jitter"
  opts = check_opts(op, opts, { brightness = true, contrast = true, p = true, clamp = true })
  local bs = number(op, "brightness", opts.brightness, 0.4, 0, 1)
  local cs = number(op, "contrast", opts.contrast, 0.4, 0, 1)
  local p = number(op, "p", opts.p, 0.8, 0, 1)
  local clamp = opts.clamp
  if clamp == nil then clamp = { 0, 1 } end
  return function(x, y)
    local b = batch_dims(x, op)
    if b == 0 then return x, y end
    local u = mg.rand(b, 4):totable()
    local bright = factors(u, bs, p)
    for k = 1, b do u[k] = { u[k][1], u[k][3] } end -- the same coin, its own factor
    return mg.color_jitter(x, bright, factors(u, cs, p), { clamp = clamp }), y
  end
end

--- With probability p per image, a Gaussian blur of std uniform in sigma
-- (kernel 2 radius + 1 wide, edges repeated).
-- @tparam[opt] table opts `{sigma = {0.1, 1.5}, p = 0.5, radius = ceil(2 sigma[2])}`
-- @treturn function a transform
function A.gaussian_blur(opts)
  local op = "gaussian_blur"
  opts = check_opts(op, opts, { sigma = true, p = true, radius = true })
  local sigma = range(op, "sigma", opts.sigma, { 0.1, 1.5 }, 0, 16)
  local p = number(op, "p", opts.p, 0.5, 0, 1)
  local radius = opts.radius or math.max(1, math.ceil(2 * sigma[2]))
  if math.type(radius) ~= "integer" or radius < 0 or radius > 32 then
    error(op .. ": radius must be an integer in 0..32, got " .. tostring(radius), 2)
  end
  return function(x, y)
    local b = batch_dims(x, op)
    if b == 0 then return x, y end
    local u = mg.rand(b, 2):totable()
    local s = {}
    for k, r in ipairs(u) do s[k] = r[1] < p and lerp(sigma, r[2]) or 0 end
    return mg.gaussian_blur(x, mg.tensor(s), radius), y
  end
end

--- Cutout: with probability p per image, a square of side uniform in
-- size * min(H, W) pixels (rounded), centred uniformly in the image and
-- clipped to it, set to value.
-- @tparam[opt] table opts `{size = {0.2, 0.5}, p = 0.5, value = 0}`
-- @treturn function a transform
function A.cutout(opts)
  local op = "cutout"
  opts = check_opts(op, opts, { size = true, p = true, value = true })
  local size = range(op, "size", opts.size, { 0.2, 0.5 }, 0, 1)
  local p = number(op, "p", opts.p, 0.5, 0, 1)
  local value = number(op, "value", opts.value, 0, -math.huge, math.huge)
  return function(x, y)
    local b, _, h, w = batch_dims(x, op)
    if b == 0 then return x, y end
    local u = mg.rand(b, 4):totable()
    local boxes = {}
    for k, r in ipairs(u) do
      local side = r[1] < p and math.floor(lerp(size, r[2]) * math.min(h, w) + 0.5) or 0
      local cy, cx = math.floor(r[3] * h), math.floor(r[4] * w) -- 0-based centre pixel
      boxes[k] = { cy - side // 2 + 1, cx - side // 2 + 1, side, side }
    end
    return mg.cutout(x, mg.tensor(boxes, { dtype = "int64" }), { value = value }), y
  end
end

-- ---- the pipeline of the contrastive pretext tasks ----------------------------------

--- One random view of each image for the contrastive pretext tasks
-- (SimCLR's augmentations for 28x28 grey images): crop, rotation and
-- shift in one warp, then brightness and contrast; blur and cutout when
-- asked for (on these small grey images they lowered the linear probe of
-- short SimCLR runs). Each part is false (off), true (on, its defaults) or
-- a table of its options; flip = true adds random_flip (not for digits).
-- Call it twice on a batch for two views.
-- @tparam[opt] table opts `{crop = {scale = {0.3, 1}}, degrees = 10, translate = 0.1,
--   jitter = {brightness = 0.4, contrast = 0.4, p = 0.8}, blur = false, cutout = false, flip = false}`;
--   blur = true means `{sigma = {0.1, 1.5}, p = 0.5}`, cutout = true `{size = {0.2, 0.5}, p = 0.5}`
-- @treturn function a transform
-- @usage local augment = mg.data.transforms.contrastive{blur = {p = 0.2}}
function A.contrastive(opts)
  local op = "contrastive"
  opts = check_opts(op, opts, { crop = true, degrees = true, translate = true, jitter = true, blur = true,
    cutout = true, flip = true })
  -- a part's options: nil gives the default (on or off), true its own defaults
  local function part(v, on)
    if v == nil then v = on end
    if v == false then return false end
    return v == true and {} or v
  end
  local list = {
    A.random_affine { crop = part(opts.crop, true), degrees = opts.degrees or 10, translate = opts.translate or 0.1 },
  }
  local jitter, blur, cutout = part(opts.jitter, true), part(opts.blur, false), part(opts.cutout, false)
  if jitter then list[#list + 1] = A.color_jitter(jitter) end
  if blur then list[#list + 1] = A.gaussian_blur(blur) end
  if cutout then list[#list + 1] = A.cutout(cutout) end
  if opts.flip then list[#list + 1] = require("moongrad.data.transforms").random_flip() end
  return function(x, y)
    for _, t in ipairs(list) do x = t(x) end
    return x, y
  end
end

return A
