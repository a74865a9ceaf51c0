--- mg.viz: pictures of what models do, written as PNG files: image_grid (a
-- grid of images with optional captions and a title), image_rows (labelled
-- rows of images: clean / adversarial / perturbation), plot (a line plot
-- of one or more series, with a legend), bar (a bar chart), heatmap (a
-- matrix as shaded cells with labelled rows and columns: attention maps)
-- and Canvas (a drawing surface for your own pictures). Every function
-- writes a PNG and returns its path. Pixel coordinates are 1-based: (1, 1)
-- is the top-left pixel, x the column, y the row.
-- @module moongrad.viz
-- @alias viz
-- @usage mg.viz.image_grid(images[{{1, 64}}], "out/samples.png", {nrow = 8, scale = 2})
-- mg.viz.plot({{name = "train", y = train_loss}, {name = "test", y = test_loss}},
--   "out/loss.png", {title = "loss", xlabel = "epoch"})
local mg = require "moongrad"
local class = require "moongrad.class"

local core = mg.core
local viz = {}

-- Series colours: distinct on white and for common colour-vision deficiencies.
viz.palette = {
  0x1f5fbf, 0xe0661a, 0x2a9d4b, 0xc23b3b, 0x7b52ab,
  0x8c5a3c, 0xd45c9e, 0x6b6b6b, 0xa3a31f, 0x1fa3b5,
}

local FRAME, GRID, TEXT, MUTED = 0x404040, 0xe6e6e6, 0x1a1a1a, 0x555555
local CAPTION_GAP = 2

local function check_path(path, op)
  if type(path) ~= "string" or path == "" then
    error(string.format("viz.%s: expected a file path (string) as second argument, got %s", op, type(path)), 3)
  end
end

local function check_opts(opts, op)
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("viz.%s: options must be a table, got %s", op, type(opts)), 3)
  end
  return opts or {}
end

local function text_size(s, scale) return core.text_size(s, scale or 1) end

-- A C error message without its "file:line: " prefix.
local function bare(msg) return (tostring(msg):gsub("^[^:\n]*:%d+: ", "")) end

-- A colour option as 0xRRGGBB; errors blame the caller of the viz function.
local function check_color(c, op, what)
  local ok, v = pcall(core.parse_color, c)
  if not ok then error(string.format("viz.%s: %s: %s", op, what, (bare(v):gsub("^parse_color: ", ""))), 4) end
  return v
end

-- Writes the canvas; errors (a missing folder, say) blame the caller.
local function save(cv, path, op)
  local ok, err = pcall(core.write_png, path, cv.tensor)
  if not ok then error(string.format("viz.%s: %s", op, bare(err)), 3) end
  return path
end

-- Text that fits in width pixels at scale, cut with ".." when too long.
local function fit_text(s, width, scale)
  if text_size(s, scale) <= width then return s end
  for n = #s - 1, 0, -1 do
    local t = s:sub(1, n) .. ".."
    if text_size(t, scale) <= width then return t end
  end
  return ""
end

-- ---- Canvas ------------------------------------------------------------------

--- An RGB uint8 picture (canvas.tensor is [height, width, 3]) with drawing
-- methods that return the canvas. Colours are 0xRRGGBB, {r, g, b},
-- "#rrggbb" or a name ("red", "grey", ...).
-- @type Canvas
-- @usage local cv = mg.viz.Canvas(200, 100)
-- cv:rect(1, 1, 50, 20, "blue"):text(60, 5, "hello", "black"):save("out/hello.png")
local Canvas = class("viz.Canvas")
viz.Canvas = Canvas

--- viz.Canvas(width, height [, opts]): a new canvas.
-- @int width
-- @int height
-- @tparam[opt] table opts `{background = "white"}`
function Canvas:init(width, height, opts)
  opts = opts or {}
  if math.type(width) ~= "integer" or math.type(height) ~= "integer" or width < 1 or height < 1 then
    error(string.format("viz.Canvas: width and height must be positive integers, got %s, %s",
      tostring(width), tostring(height)), 3)
  end
  if width * height > 1e8 then
    error(string.format("viz.Canvas: %dx%d is too large", width, height), 3)
  end
  self.width, self.height = width, height
  self.tensor = mg.zeros(height, width, 3, { dtype = "uint8" })
  core.draw_rect(self.tensor, 1, 1, width, height, opts.background or "white")
end

--- Fills a rectangle with top-left (x, y).
-- @int x
-- @int y
-- @int w
-- @int h
-- @param colour
-- @treturn Canvas self
function Canvas:rect(x, y, w, h, colour)
  core.draw_rect(self.tensor, x, y, w, h, colour); return self
end

--- Draws an anti-aliased segment.
-- @number x0
-- @number y0
-- @number x1
-- @number y1
-- @param colour
-- @number[opt=1] width
-- @treturn Canvas self
function Canvas:line(x0, y0, x1, y1, colour, width)
  core.draw_line(self.tensor, x0, y0, x1, y1, colour, width); return self
end

--- Draws a line through points; NaN or infinite values break it.
-- @tparam {number,...} xs
-- @tparam {number,...} ys
-- @param colour
-- @number[opt=1] width
-- @treturn Canvas self
function Canvas:polyline(xs, ys, colour, width)
  core.draw_polyline(self.tensor, xs, ys, colour, width); return self
end

--- Fills a disc.
-- @number x
-- @number y
-- @number r the radius
-- @param colour
-- @treturn Canvas self
function Canvas:disc(x, y, r, colour)
  core.draw_disc(self.tensor, x, y, r, colour); return self
end

--- Writes text; (x, y) is the top of the text and align says which edge
-- (or the centre) x is.
-- @int x
-- @int y
-- @param s the text (tostring applies)
-- @param[opt] colour default near-black
-- @tparam[opt] table opts `{scale = 1, vertical = false, align = "left"|"center"|"right"}`
-- @treturn Canvas self
function Canvas:text(x, y, s, colour, opts)
  opts = opts or {}
  s = tostring(s)
  local w = text_size(s, opts.scale)
  if opts.align == "center" then x = x - w // 2
  elseif opts.align == "right" then x = x - w + 1 end
  core.draw_text(self.tensor, x, y, s, colour or TEXT, { scale = opts.scale or 1, vertical = opts.vertical })
  return self
end

--- The size text takes.
-- @param _ the canvas (unused)
-- @param s the text
-- @int[opt=1] scale
-- @treturn int width in pixels
-- @treturn int height in pixels
function Canvas.text_size(_, s, scale) return text_size(tostring(s), scale) end

--- Draws an image with its top-left at (x, y).
-- @tparam Tensor img [H, W], [1, H, W] or [3, H, W]
-- @int x
-- @int y
-- @tparam[opt] table opts `{scale = 1, range = {0, 1}}`
-- @treturn Canvas self
function Canvas:image(img, x, y, opts)
  core.draw_image(self.tensor, img, x, y, opts); return self
end

--- Writes the canvas as a PNG file.
-- @string path
-- @treturn string path
function Canvas:save(path)
  return core.write_png(path, self.tensor)
end

-- ---- images ------------------------------------------------------------------

-- A list-like view of images: n, c, h, w and get(i) -> float32 [C,H,W].
local function image_source(images, op, level)
  level = (level or 2) + 1
  if mg.is_tensor(images) then
    local shape = images:shape()
    local t = images:detach()
    if #shape == 3 then
      t = t:unsqueeze(2)
      shape = t:shape()
    end
    if #shape ~= 4 or (shape[2] ~= 1 and shape[2] ~= 3) then
      error(string.format("viz.%s: images must be [N,1,H,W], [N,3,H,W] or [N,H,W], got [%s]", op,
        table.concat(images:shape(), ",")), level)
    end
    if shape[1] == 0 then error(string.format("viz.%s: no images (N = 0)", op), level) end
    local u8 = t.dtype == "uint8"
    if t.dtype ~= "float32" then t = t:float() end
    return {
      n = shape[1], c = shape[2], h = shape[3], w = shape[4], u8 = u8, tensor = t,
      get = function(i) return t:select(1, i) end,
    }
  elseif type(images) == "table" then
    local list, c, h, w, u8 = {}, nil, 0, 0, nil
    for i, img in ipairs(images) do
      if not mg.is_tensor(img) then
        error(string.format("viz.%s: image %d is a %s, expected a Tensor", op, i, type(img)), level)
      end
      local s = img:shape()
      local t = img:detach()
      if #s == 2 then t = t:unsqueeze(1); s = t:shape() end
      if #s ~= 3 or (s[1] ~= 1 and s[1] ~= 3) then
        error(string.format("viz.%s: image %d must be [H,W], [1,H,W] or [3,H,W], got [%s]", op, i,
          table.concat(img:shape(), ",")), level)
      end
      if u8 == nil then u8 = t.dtype == "uint8" end
      if t.dtype ~= "float32" then t = t:float() end
      list[i] = t
      c = math.max(c or 1, s[1]); h = math.max(h, s[2]); w = math.max(w, s[3])
    end
    if #list == 0 then error(string.format("viz.%s: no images", op), level) end
    return { n = #list, c = c, h = h, w = w, u8 = u8, get = function(i) return list[i] end }
  end
  error(string.format("viz.%s: expected a Tensor of images or a list of Tensors, got %s", op, type(images)), level)
end

local function finite_range(src, indices)
  local lo, hi = math.huge, -math.huge
  for _, i in ipairs(indices) do
    local img = src.get(i)
    -- NaN never wins a comparison; replace it before min/max
    img = mg.where(img:ne(img), mg.zeros(1), img)
    lo = math.min(lo, img:min():item())
    hi = math.max(hi, img:max():item())
  end
  return lo, hi
end

-- How values become display levels: {lo, hi} and the colour map.
-- opts.range = {lo, hi}; opts.normalize = true | "each" (min-max over all /
-- each image) | "symmetric" (range {-m, m}, m the largest |value|);
-- opts.cmap = "grey" | "diverging" (negative blue, zero white, positive red).
local function display_mode(src, opts, op, level)
  local lo, hi
  local norm = opts.normalize
  if norm == true or norm == "all" or norm == "symmetric" then
    local idx = {}
    for i = 1, src.n do idx[i] = i end
    lo, hi = finite_range(src, idx)
    if norm == "symmetric" then
      local m = math.max(math.abs(lo), math.abs(hi))
      lo, hi = -m, m
    end
  elseif norm ~= nil and norm ~= false and norm ~= "each" then
    error(string.format("viz.%s: normalize must be true, \"each\" or \"symmetric\", got %s", op, tostring(norm)),
      level + 1)
  elseif opts.range ~= nil then
    local r = opts.range
    if type(r) ~= "table" or type(r[1]) ~= "number" or type(r[2]) ~= "number" or not (r[2] > r[1]) then
      error(string.format("viz.%s: range must be {lo, hi} with lo < hi", op), level + 1)
    end
    lo, hi = r[1], r[2]
  elseif opts.cmap == "diverging" then
    lo, hi = -1, 1
  else
    lo, hi = 0, src.u8 and 255 or 1
  end
  local cmap = opts.cmap or "grey"
  if cmap ~= "grey" and cmap ~= "gray" and cmap ~= "diverging" then
    error(string.format("viz.%s: cmap must be \"grey\" or \"diverging\", got %s", op, tostring(cmap)), level + 1)
  end
  return { lo = lo, hi = hi, each = norm == "each", cmap = cmap }
end

-- Draws image i of src on canvas cv at (x, y).
local function draw_one(cv, src, i, x, y, scale, mode)
  local img = src.get(i)
  local lo, hi = mode.lo, mode.hi
  if mode.each then lo, hi = finite_range(src, { i }) end
  if not (hi > lo) then lo, hi = lo - 0.5, lo + 0.5 end
  if mode.cmap == "diverging" then
    -- grey values; map [lo, hi] to [-1, 1] around the middle, then to colours
    local g = img:mean(1, true)
    local v = ((g - (lo + hi) / 2) * (2 / (hi - lo))):clamp(-1, 1)
    local pos, neg = v:relu(), (-v):relu()
    local rgb = mg.zeros(3, img:size(2), img:size(3))
    rgb:narrow(1, 1, 1):copy_(1 - neg)
    rgb:narrow(1, 2, 1):copy_(1 - pos - neg)
    rgb:narrow(1, 3, 1):copy_(1 - pos)
    img, lo, hi = rgb, 0, 1
  end
  core.draw_image(cv.tensor, img, x, y, { scale = scale, range = { lo, hi } })
end

-- A background: a grey level in [0, 1] or a colour.
local function pad_colour(v, op)
  if v == nil then return 0xffffff end
  if type(v) == "number" and v >= 0 and v <= 1 then
    local g = math.floor(v * 255 + 0.5)
    return g * 0x10000 + g * 0x100 + g
  end
  local colour = check_color(v, op, "pad_value") -- not a tail call: errors name the caller
  return colour
end

-- Colours for a list of n entries (nil entries stay nil).
local function check_colors(list, n, op, what)
  if list == nil then return nil end
  if type(list) ~= "table" then
    error(string.format("viz.%s: %s must be a list of colours, got %s", op, what, type(list)), 3)
  end
  local out = {}
  for i = 1, n do
    if list[i] ~= nil then out[i] = check_color(list[i], op, string.format("%s[%d]", what, i)) end
  end
  return out
end

local function text_colour_on(bg)
  if type(bg) ~= "number" then return TEXT end
  local r, g, b = bg >> 16 & 255, bg >> 8 & 255, bg & 255
  return (r * 299 + g * 587 + b * 114) / 1000 > 128 and TEXT or 0xf0f0f0
end

local function check_captions(captions, n, op, what)
  if captions == nil then return nil end
  if type(captions) ~= "table" then
    error(string.format("viz.%s: %s must be a list of strings, got %s", op, what, type(captions)), 3)
  end
  local out = {}
  for i = 1, n do out[i] = captions[i] ~= nil and tostring(captions[i]) or "" end
  return out
end

-- Title height (0 without one) and scale: 2 where it fits (and the
-- picture is not short), else 1.
local function title_layout(title, width, height)
  if not title then return 0, 1 end
  local scale = (text_size(title, 2) <= width - 8 and (height or 200) >= 200) and 2 or 1
  local _, th = text_size(title, scale)
  return th + 8, scale
end

--- Writes a grid of images.
-- @tparam Tensor|{Tensor,...} images [N, 1, H, W], [N, 3, H, W], [N, H, W] (float32 or uint8)
--   or a list of [C, H, W] / [H, W] tensors
-- @string path the PNG file
-- @tparam[opt] table opts `nrow = 8` (images per row), `padding = 2`, `scale = 1` (each pixel
--   becomes scale x scale), `range = {0, 1}` (values shown black to white, others clipped;
--   {0, 255} for uint8; GAN samples in [-1, 1]: range = {-1, 1}), `normalize` (true: min-max
--   over all, "each", "symmetric"), `cmap = "grey"` (or "diverging": blue < 0 < red, for
--   perturbations), `captions` (one string per image, drawn under it), `caption_colors` (one
--   colour per image), `caption_scale = 1`, `title`, `pad_value = 1` (white; a number 0..1 or a colour)
-- @treturn string path
-- @usage mg.viz.image_grid(x, "out/grid.png", {captions = preds, caption_colors = colors})
function viz.image_grid(images, path, opts)
  check_path(path, "image_grid")
  opts = check_opts(opts, "image_grid")
  local src = image_source(images, "image_grid")
  local mode = display_mode(src, opts, "image_grid", 2)
  local nrow = opts.nrow or 8
  local padding = opts.padding or 2
  local scale = opts.scale or 1
  if math.type(nrow) ~= "integer" or nrow < 1 then error("viz.image_grid: nrow must be a positive integer", 2) end
  if math.type(padding) ~= "integer" or padding < 0 then
    error("viz.image_grid: padding must be an integer >= 0", 2)
  end
  if math.type(scale) ~= "integer" or scale < 1 or scale > 64 then
    error("viz.image_grid: scale must be an integer in 1..64", 2)
  end
  local captions = check_captions(opts.captions, src.n, "image_grid", "captions")
  local title = opts.title ~= nil and tostring(opts.title) or nil
  local cscale = opts.caption_scale or 1
  local ccolors = check_colors(opts.caption_colors, src.n, "image_grid", "caption_colors")

  local iw, ih = src.w * scale, src.h * scale
  local cell_w, cell_h = iw, ih
  if captions then
    local _, th = text_size("Ag", cscale)
    for _, c in ipairs(captions) do cell_w = math.max(cell_w, text_size(c, cscale) + 4) end
    cell_h = ih + CAPTION_GAP + th
  end
  local ncol = math.min(nrow, src.n)
  local nrows = (src.n + ncol - 1) // ncol
  local grid_w = ncol * cell_w + (ncol + 1) * padding
  local grid_h = nrows * cell_h + (nrows + 1) * padding
  local width = grid_w
  if title then width = math.max(width, text_size(title, 1) + 2 * padding + 8) end
  local title_h, tscale = title_layout(title, width)
  local height = title_h + grid_h
  local bg = pad_colour(opts.pad_value, "image_grid")
  local fg = text_colour_on(bg)
  local cv = Canvas(width, height, { background = bg })
  if title then cv:text(width // 2 + 1, 5, title, fg, { scale = tscale, align = "center" }) end
  local ox = (width - grid_w) // 2
  for i = 1, src.n do
    local r, c = (i - 1) // ncol, (i - 1) % ncol
    local cx = ox + padding + c * (cell_w + padding) + 1
    local cy = title_h + padding + r * (cell_h + padding) + 1
    draw_one(cv, src, i, cx + (cell_w - iw) // 2, cy, scale, mode)
    if captions and captions[i] ~= "" then
      local col = ccolors and ccolors[i] or fg
      cv:text(cx + cell_w // 2, cy + ih + CAPTION_GAP, captions[i], col, { scale = cscale, align = "center" })
    end
  end
  local written = save(cv, path, "image_grid") -- not a tail call: errors name the caller
  return written
end

--- Writes labelled rows of images, left to right with the label on the
-- left. Per-row range / normalize / cmap override opts'; a perturbation row
-- reads well with normalize = "symmetric" (zero is mid-grey) or cmap =
-- "diverging".
-- @tparam table rows a list of `{label = "clean", images = t, range = ..., normalize = ...,
--   cmap = ..., captions = {...}, caption_colors = {...}}`, images as in image_grid
-- @string path the PNG file
-- @tparam[opt] table opts `scale = 1, padding = 2, max_images` (per row), `title, pad_value,
--   label_scale = 1, caption_scale = 1, range, normalize, cmap`
-- @treturn string path
function viz.image_rows(rows, path, opts)
  check_path(path, "image_rows")
  opts = check_opts(opts, "image_rows")
  if type(rows) ~= "table" or #rows == 0 then
    error("viz.image_rows: expected a non-empty list of rows {label = ..., images = ...}", 2)
  end
  local padding, scale = opts.padding or 2, opts.scale or 1
  if math.type(padding) ~= "integer" or padding < 0 then error("viz.image_rows: padding must be an integer >= 0", 2) end
  if math.type(scale) ~= "integer" or scale < 1 or scale > 64 then
    error("viz.image_rows: scale must be an integer in 1..64", 2)
  end
  local max_images = opts.max_images
  if max_images ~= nil and (math.type(max_images) ~= "integer" or max_images < 1) then
    error("viz.image_rows: max_images must be a positive integer", 2)
  end
  local title = opts.title ~= nil and tostring(opts.title) or nil
  local lscale, cscale = opts.label_scale or 1, opts.caption_scale or 1
  local _, cap_h = text_size("Ag", cscale)
  local prepared, label_w, cell_w, cell_h, maxn = {}, 0, 0, 0, 0
  for k, row in ipairs(rows) do
    if type(row) ~= "table" or row.images == nil then
      error(string.format("viz.image_rows: row %d must be a table {label = ..., images = ...}", k), 2)
    end
    local src = image_source(row.images, "image_rows")
    local merged = {}
    for _, key in ipairs({ "range", "normalize", "cmap" }) do
      if row[key] ~= nil then merged[key] = row[key] else merged[key] = opts[key] end
    end
    local mode = display_mode(src, merged, "image_rows", 2)
    local n = max_images and math.min(src.n, max_images) or src.n
    local captions = check_captions(row.captions, n, "image_rows", "captions of row " .. k)
    local label = row.label and tostring(row.label) or ""
    label_w = math.max(label_w, (text_size(label, lscale)))
    cell_w = math.max(cell_w, src.w * scale)
    cell_h = math.max(cell_h, src.h * scale)
    if captions then for _, c in ipairs(captions) do cell_w = math.max(cell_w, text_size(c, cscale) + 4) end end
    maxn = math.max(maxn, n)
    prepared[k] = { src = src, mode = mode, n = n, captions = captions, label = label,
                    colors = check_colors(row.caption_colors, n, "image_rows", "caption_colors of row " .. k) }
  end
  local label_col = label_w > 0 and label_w + 8 or 0
  local grid_w = label_col + maxn * cell_w + (maxn + 1) * padding
  local width = grid_w
  if title then width = math.max(width, text_size(title, 1) + 2 * padding + 8) end
  local title_h, tscale = title_layout(title, width)
  local row_h = {}
  local height = title_h + padding
  for k, p in ipairs(prepared) do
    row_h[k] = cell_h + (p.captions and CAPTION_GAP + cap_h or 0)
    height = height + row_h[k] + padding
  end
  local bg = pad_colour(opts.pad_value, "image_rows")
  local fg = text_colour_on(bg)
  local cv = Canvas(width, height, { background = bg })
  if title then cv:text(width // 2 + 1, 5, title, fg, { scale = tscale, align = "center" }) end
  local y = title_h + padding + 1
  local _, lh = text_size("Ag", lscale)
  for k, p in ipairs(prepared) do
    if p.label ~= "" then cv:text(padding + 5, y + (cell_h - lh) // 2, p.label, fg, { scale = lscale }) end
    for i = 1, p.n do
      local x = label_col + padding + (i - 1) * (cell_w + padding) + 1
      local iw, ih = p.src.w * scale, p.src.h * scale
      draw_one(cv, p.src, i, x + (cell_w - iw) // 2, y + (cell_h - ih) // 2, scale, p.mode)
      if p.captions and p.captions[i] ~= "" then
        local col = p.colors and p.colors[i] or fg
        cv:text(x + cell_w // 2, y + cell_h + CAPTION_GAP, p.captions[i], col, { scale = cscale, align = "center" })
      end
    end
    y = y + row_h[k] + padding
  end
  local written = save(cv, path, "image_rows") -- not a tail call: errors name the caller
  return written
end

-- ---- axes ------------------------------------------------------------------------

-- A "nice" number near x: 1, 2, 2.5 or 5 times a power of ten (integer
-- axes: 1, 2 or 5 times a power of ten, at least 1).
local function nice_step(x, integer)
  local e = math.floor(math.log(x, 10))
  local f = x / 10 ^ e
  local n
  if f < 1.5 then n = 1
  elseif f < 2.25 then n = 2
  elseif f < 3.5 then n = integer and 2 or 2.5
  elseif f < 7.5 then n = 5
  else n = 10 end
  local step = n * 10 ^ e
  if integer then step = math.max(1, math.floor(step + 0.5)) end
  return step
end

-- Multiples of step in [lo, hi].
local function multiples(lo, hi, step)
  local ticks = {}
  local k0 = math.ceil(lo / step - 1e-9)
  for k = k0, k0 + 1000 do
    local v = k * step
    if v > hi + step * 1e-9 then break end
    ticks[#ticks + 1] = v
  end
  return ticks
end

-- Ticks for [lo, hi] aiming at about `target` of them; returns the list,
-- the step and the range, moved out to the first ticks outside with extend.
local function linear_ticks(lo, hi, target, extend)
  local step = nice_step((hi - lo) / math.max(target - 1, 1))
  if extend then
    lo = math.floor(lo / step + 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step
  end
  return multiples(lo, hi, step), step, lo, hi
end

-- An axis over data [lo, hi]. Each side that is not fixed moves out to
-- the next tick when that adds at most 16% of the span; data lying on a
-- tick gets `touch` of the span as margin instead (0: the data may meet
-- the frame), and data far from a tick gets `pad`. Returns ticks, step,
-- lo, hi.
local function axis_ticks(lo, hi, target, integer, touch, pad, fix_lo, fix_hi)
  local span = hi - lo
  local step = nice_step(span / math.max(target - 1, 1), integer)
  local function side(v, snapped, dir) -- dir -1: the low end, 1: the high end
    local d = math.abs(v - snapped)
    if d < span * 0.003 then return v + dir * touch * span end
    if d <= span * 0.16 then return snapped end
    return v + dir * pad * span
  end
  if not fix_lo then lo = side(lo, math.floor(lo / step + 1e-9) * step, -1) end
  if not fix_hi then hi = side(hi, math.ceil(hi / step - 1e-9) * step, 1) end
  return multiples(lo, hi, step), step, lo, hi
end

-- Tick label text for v on an axis whose step is `step`.
local function tick_label(v, step)
  if v == 0 then return "0" end
  local a = math.abs(v)
  if a >= 1e6 or a < 1e-4 then
    local s = string.format("%.3g", v):gsub("e%+?(%-?)0*(%d)", "e%1%2")
    return s
  end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  if step * 10 ^ decimals % 1 > 1e-6 then decimals = decimals + 1 end -- 2.5, 0.25
  return string.format("%." .. math.min(decimals, 8) .. "f", v)
end

-- Ticks of a log axis over [lo, hi] (lo > 0): powers of ten, with 2 and 5
-- between them when the range is short (the range then snaps to those).
-- Returns ticks and the range.
local function log_ticks(lo, hi)
  local e0, e1 = math.floor(math.log(lo, 10) + 1e-9), math.ceil(math.log(hi, 10) - 1e-9)
  if e1 == e0 then e1 = e0 + 1 end
  local short = e1 - e0 <= 2
  local candidates = {}
  local every = math.max(1, math.ceil((e1 - e0) / 8))
  for e = e0, e1 do
    if (e - e0) % every == 0 or e == e1 then candidates[#candidates + 1] = 10 ^ e end
    if short and e < e1 then
      candidates[#candidates + 1] = 2 * 10 ^ e
      candidates[#candidates + 1] = 5 * 10 ^ e
    end
  end
  table.sort(candidates)
  local rlo, rhi = 10 ^ e0, 10 ^ e1
  if short then
    for _, v in ipairs(candidates) do if v <= lo * (1 + 1e-9) then rlo = v end end
    for i = #candidates, 1, -1 do if candidates[i] >= hi * (1 - 1e-9) then rhi = candidates[i] end end
  end
  local ticks = {}
  for _, v in ipairs(candidates) do
    if v >= rlo * (1 - 1e-9) and v <= rhi * (1 + 1e-9) then ticks[#ticks + 1] = v end
  end
  return ticks, rlo, rhi
end

local function log_label(v)
  local e = math.floor(math.log(v, 10) + 0.5)
  if math.abs(v - 10 ^ e) < 1e-9 * v and (e < -3 or e > 5) then return "1e" .. e end
  if v >= 1e-4 and v < 1e6 then return (string.format("%.4f", v):gsub("%.?0+$", "")) end
  return (string.format("%.0e", v):gsub("e%+?(%-?)0*(%d)", "e%1%2"))
end

--- The axis plot() draws for data in [lo, hi]: tick values, their labels
-- and the range shown (widened to a tick or by a small margin).
-- @number lo
-- @number hi
-- @tparam[opt] table opts `{target = 6, integer = false, log = false}`: integer gives
--   whole-number ticks only; log a logarithmic axis (lo > 0)
-- @treturn {number,...} ticks
-- @treturn {string,...} labels
-- @treturn number lo shown
-- @treturn number hi shown
function viz.ticks(lo, hi, opts)
  opts = opts or {}
  if type(lo) ~= "number" or type(hi) ~= "number" or not (hi > lo) then
    error("viz.ticks: expected numbers lo < hi", 2)
  end
  local ticks, step
  local labels = {}
  if opts.log then
    if not (lo > 0) then error("viz.ticks: a log axis needs lo > 0", 2) end
    ticks, lo, hi = log_ticks(lo, hi)
    for i, v in ipairs(ticks) do labels[i] = log_label(v) end
  else
    ticks, step, lo, hi = axis_ticks(lo, hi, opts.target or 6, opts.integer, 0.04, 0.04)
    for i, v in ipairs(ticks) do labels[i] = tick_label(v, step) end
  end
  return ticks, labels, lo, hi
end

local function is_finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- A list of numbers from a list or a Tensor; level blames the user's call.
local function to_list(v, op, what, level)
  if mg.is_tensor(v) then return v:detach():float():contiguous():view(-1):flat_values() end
  if type(v) ~= "table" then
    error(string.format("viz.%s: %s must be a list of numbers or a Tensor, got %s", op, what, type(v)), level + 1)
  end
  return v
end

-- The series of plot() as a list of {name, x, y}.
local function normalize_series(series, op)
  local list = {}
  if mg.is_tensor(series) or (type(series) == "table" and type(series[1]) == "number") then
    list[1] = { y = series }
  elseif type(series) == "table" and #series > 0 then
    for i, s in ipairs(series) do
      if type(s) ~= "table" or (s.y == nil and not mg.is_tensor(s)) then
        error(string.format("viz.%s: series %d must be {name = ..., x = ..., y = {...}}", op, i), 3)
      end
      list[i] = mg.is_tensor(s) and { y = s } or s
    end
  elseif type(series) == "table" then
    local names = {}
    for name in pairs(series) do names[#names + 1] = tostring(name) end
    table.sort(names)
    for _, name in ipairs(names) do
      local s = series[name]
      if type(s) == "table" and s.y ~= nil then
        list[#list + 1] = { name = name, x = s.x, y = s.y, color = s.color }
      else
        list[#list + 1] = { name = name, y = s }
      end
    end
  else
    error(string.format("viz.%s: expected a list of series {name = ..., y = {...}} or a table name -> values, got %s",
      op, type(series)), 3)
  end
  local out = {}
  for i, s in ipairs(list) do
    local y = to_list(s.y, op, "y of series " .. i, 3)
    local x = s.x and to_list(s.x, op, "x of series " .. i, 3)
    if x and #x ~= #y then
      error(string.format("viz.%s: series %d has %d x values and %d y values", op, i, #x, #y), 3)
    end
    if not x then
      x = {}
      for k = 1, #y do x[k] = k end
    end
    local color = s.color ~= nil and check_color(s.color, op, "color of series " .. i)
    out[i] = { name = s.name and tostring(s.name), x = x, y = y,
      color = color or viz.palette[(i - 1) % #viz.palette + 1] }
  end
  return out
end

-- Layout and drawing of one frame with axes. ax: {xlo, xhi, ylo, yhi,
-- xticks, yticks, xlabels, ylabels (text per tick), logy, title, xlabel,
-- ylabel, right (extra right margin)}. Returns the canvas and the
-- mapping functions X(x), Y(y) and the plot box.
local function draw_axes(width, height, ax)
  if ax.title then ax.title = fit_text(tostring(ax.title), width - 8) end
  if ax.xlabel then ax.xlabel = fit_text(tostring(ax.xlabel), width - 20) end
  if ax.ylabel then ax.ylabel = fit_text(tostring(ax.ylabel), height - 20) end
  local tick_h = select(2, text_size("0"))
  local ylw = 0
  for _, s in ipairs(ax.ylabels) do ylw = math.max(ylw, (text_size(s))) end
  local title_h, tscale = title_layout(ax.title, width, height)
  local top = 10 + title_h
  local left = 8 + (ax.ylabel and tick_h + 8 or 0) + ylw + 8
  local bottom = height - (6 + tick_h + 6 + (ax.xlabel and tick_h + 6 or 0))
  local lastw = #ax.xlabels > 0 and text_size(ax.xlabels[#ax.xlabels]) or 0
  local right = width - math.max(12, lastw // 2 + 4) - (ax.right or 0)
  if right - left < 20 or bottom - top < 20 then
    error(string.format("viz.%s: a %dx%d picture is too small for the axes and labels", ax.op, width, height), 3)
  end
  local cv = Canvas(width, height)
  local function X(x) return left + (x - ax.xlo) / (ax.xhi - ax.xlo) * (right - left) end
  local Y
  if ax.logy then
    local l0, l1 = math.log(ax.ylo, 10), math.log(ax.yhi, 10)
    Y = function(y) return bottom - (math.log(y, 10) - l0) / (l1 - l0) * (bottom - top) end
  else
    Y = function(y) return bottom - (y - ax.ylo) / (ax.yhi - ax.ylo) * (bottom - top) end
  end
  -- gridlines and ticks
  for i, v in ipairs(ax.yticks) do
    local y = math.floor(Y(v) + 0.5)
    if y >= top and y <= bottom then
      cv:rect(left + 1, y, right - left - 1, 1, GRID)
      cv:rect(left - 4, y, 4, 1, FRAME)
      cv:text(left - 7, y - 3, ax.ylabels[i], TEXT, { align = "right" })
    end
  end
  for i, v in ipairs(ax.xticks) do
    local x = math.floor(X(v) + 0.5)
    if x >= left and x <= right then
      if not ax.no_xgrid then cv:rect(x, top + 1, 1, bottom - top - 1, GRID) end
      cv:rect(x, bottom + 1, 1, 4, FRAME)
      cv:text(x, bottom + 7, ax.xlabels[i], TEXT, { align = "center" })
    end
  end
  -- frame
  cv:rect(left, top, right - left + 1, 1, FRAME)
  cv:rect(left, bottom, right - left + 1, 1, FRAME)
  cv:rect(left, top, 1, bottom - top + 1, FRAME)
  cv:rect(right, top, 1, bottom - top + 1, FRAME)
  if ax.title then -- centred over the plot, kept inside the picture
    local tw = text_size(ax.title, tscale)
    local x = math.max(4, math.min((left + right) // 2 - tw // 2, width - 4 - tw))
    cv:text(x, 6, ax.title, TEXT, { scale = tscale })
  end
  if ax.xlabel then cv:text((left + right) // 2, height - tick_h - 4, ax.xlabel, TEXT, { align = "center" }) end
  if ax.ylabel then
    local w = text_size(ax.ylabel)
    cv:text(8, (top + bottom) // 2 - w // 2, ax.ylabel, TEXT, { vertical = true })
  end
  return cv, X, Y, { left = left, right = right, top = top, bottom = bottom }
end

-- Legend box size for the named series.
local function legend_size(series)
  local w, n = 0, 0
  for _, s in ipairs(series) do
    if s.name then w = math.max(w, (text_size(s.legend))); n = n + 1 end
  end
  if n == 0 then return nil end
  return w + 40, n * 13 + 8
end

local function draw_legend(cv, series, x, y, w, h)
  cv:rect(x, y, w, h, 0xbbbbbb)
  cv:rect(x + 1, y + 1, w - 2, h - 2, 0xffffff)
  local k = 0
  for _, s in ipairs(series) do
    if s.name then
      local ly = y + 5 + k * 13
      cv:line(x + 6, ly + 3, x + 26, ly + 3, s.color, 2)
      cv:text(x + 32, ly, s.legend, TEXT)
      k = k + 1
    end
  end
end

-- A series in pixel coordinates: lists px, py with NaN where the data has
-- a gap (non-finite, or not positive on a log axis). Runs of points that
-- fall in one pixel column keep only their first, lowest, highest and last
-- point, which draws the same picture from thousands of points.
local function to_pixels(s, X, Y, logy)
  local px, py = {}, {}
  local nan = 0 / 0
  local col, first, lo, hi, last -- the current column's points: {x, y, index}
  local function flush()
    if not col then return end
    local keep = { first, lo, hi, last }
    table.sort(keep, function(u, v) return u[3] < v[3] end) -- repeats end up side by side
    local prev
    for _, p in ipairs(keep) do
      if p ~= prev then px[#px + 1], py[#py + 1] = p[1], p[2] end
      prev = p
    end
    col = nil
  end
  for i = 1, #s.y do
    local x, y = s.x[i], s.y[i]
    if is_finite(x) and is_finite(y) and (not logy or y > 0) then
      local p = { X(x), Y(y), i }
      local c = math.floor(p[1] + 0.5)
      if c ~= col then
        flush()
        col, first, lo, hi = c, p, p, p
      end
      if p[2] < lo[2] then lo = p end
      if p[2] > hi[2] then hi = p end
      last = p
    else
      flush()
      if #px > 0 and px[#px] == px[#px] then px[#px + 1], py[#py + 1] = nan, nan end
    end
  end
  flush()
  return px, py
end

-- Points along the series' lines, every few pixels (for placing the legend).
local function trace_points(pixels)
  local pts = {}
  for _, xy in ipairs(pixels) do
    local xs, ys = xy[1], xy[2]
    for i = 1, #xs do
      local qx, qy = xs[i], ys[i]
      if qx == qx then
        local px, py = xs[i - 1], ys[i - 1]
        if px and px == px then
          local n = math.min(200, math.ceil(math.max(math.abs(qx - px), math.abs(qy - py)) / 3))
          for t = 1, n do pts[#pts + 1] = { px + (qx - px) * t / n, py + (qy - py) * t / n } end
        else
          pts[#pts + 1] = { qx, qy }
        end
      end
    end
  end
  return pts
end

local function count_inside(pts, x, y, w, h)
  local n = 0
  for _, p in ipairs(pts) do
    if p[1] >= x - 3 and p[1] <= x + w + 2 and p[2] >= y - 3 and p[2] <= y + h + 2 then n = n + 1 end
  end
  return n
end

-- Clips segment (x0, y0)-(x1, y1) to the box; nil when nothing is left.
local function clip_segment(x0, y0, x1, y1, b)
  local t0, t1 = 0, 1
  local dx, dy = x1 - x0, y1 - y0
  local p = { -dx, dx, -dy, dy }
  local q = { x0 - b.left, b.right - x0, y0 - b.top, b.bottom - y0 }
  for k = 1, 4 do
    if p[k] == 0 then
      if q[k] < 0 then return nil end
    else
      local r = q[k] / p[k]
      if p[k] < 0 then t0 = math.max(t0, r) else t1 = math.min(t1, r) end
    end
  end
  if t0 > t1 then return nil end
  return x0 + t0 * dx, y0 + t0 * dy, x0 + t1 * dx, y0 + t1 * dy
end

-- Pixel points (with NaN gaps) clipped to the plot box for draw_polyline:
-- NaN separates the pieces; a point with no drawn segment is a dot.
local function clip_pixels(xs, ys, box)
  local ox, oy = {}, {}
  local nan = 0 / 0
  local function push(x, y) ox[#ox + 1], oy[#oy + 1] = x, y end
  local function lone(x, y)
    if x >= box.left and x <= box.right and y >= box.top and y <= box.bottom then
      push(nan, nan); push(x, y); push(nan, nan)
    end
  end
  local px, py, pj -- previous point, and whether a drawn segment touches it
  for i = 1, #xs do
    local qx, qy = xs[i], ys[i]
    if qx == qx then
      local qj = false
      if px then
        local ax, ay, bx, by = clip_segment(px, py, qx, qy, box)
        if ax then
          if #ox == 0 or ox[#ox] ~= ax or oy[#oy] ~= ay then push(nan, nan); push(ax, ay) end
          push(bx, by)
          pj, qj = true, true
        end
        if not pj then lone(px, py) end
      end
      px, py, pj = qx, qy, qj
    else
      if px and not pj then lone(px, py) end
      px = nil
    end
  end
  if px and not pj then lone(px, py) end
  return ox, oy
end

local function check_size(opts, op, dw, dh)
  local w, h = opts.width or dw, opts.height or dh
  if math.type(w) ~= "integer" or math.type(h) ~= "integer" or w < 120 or h < 100 or w > 8192 or h > 8192 then
    error(string.format("viz.%s: width must be an integer in 120..8192 and height in 100..8192, got %s, %s", op,
      tostring(w), tostring(h)), 3)
  end
  return w, h
end

--- Writes a line plot of one or more series, with a legend naming them.
-- Non-finite values (NaN, inf) leave gaps; a lone point shows as a dot.
-- @tparam table|Tensor series a list `{{name = "train loss", x = {...} (default 1..n), y = {...}}, ...}`
--   (x, y lists or 1-D Tensors; a series may set color), a table name -> list of y, or a
--   single list / Tensor of y values
-- @string path the PNG file
-- @tparam[opt] table opts `title, xlabel, ylabel, width = 640, height = 400, logy = false`
--   (non-positive values are skipped), `ymin, ymax, xmin, xmax` (fixed limits)
-- @treturn string path
function viz.plot(series, path, opts)
  check_path(path, "plot")
  opts = check_opts(opts, "plot")
  local width, height = check_size(opts, "plot", 640, 400)
  local list = normalize_series(series, "plot")
  local logy = opts.logy and true or false
  local xlo, xhi, ylo, yhi = math.huge, -math.huge, math.huge, -math.huge
  local npoints = 0
  for _, s in ipairs(list) do
    for i = 1, #s.y do
      local x, y = s.x[i], s.y[i]
      if is_finite(x) and is_finite(y) and (not logy or y > 0) then
        xlo, xhi = math.min(xlo, x), math.max(xhi, x)
        ylo, yhi = math.min(ylo, y), math.max(yhi, y)
        npoints = npoints + 1
      end
    end
  end
  if npoints == 0 then xlo, xhi, ylo, yhi = 0, 1, logy and 1 or 0, logy and 10 or 1 end
  xlo, xhi = opts.xmin or xlo, opts.xmax or xhi
  ylo, yhi = opts.ymin or ylo, opts.ymax or yhi
  if not (xhi > xlo) then
    local d = xlo == 0 and 1 or math.abs(xlo) * 0.1
    xlo, xhi = xlo - d, xhi + d
  end
  if not (yhi > ylo) then
    if logy then ylo, yhi = ylo / 10 ^ 0.5, yhi * 10 ^ 0.5
    else
      local d = ylo == 0 and 1 or math.abs(ylo) * 0.1
      ylo, yhi = ylo - d, yhi + d
    end
  end
  if logy and ylo <= 0 then error("viz.plot: logy needs ymin > 0", 2) end
  local ax = { op = "plot", title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel, logy = logy }
  -- integer x (epochs, steps): no fractional ticks
  local xint = true
  for _, s in ipairs(list) do
    for i = 1, #s.x do
      if is_finite(s.x[i]) and math.floor(s.x[i]) ~= s.x[i] then xint = false; break end
    end
  end
  local yticks, ystep
  if logy then
    yticks, ylo, yhi = log_ticks(ylo, yhi)
  else
    yticks, ystep, ylo, yhi = axis_ticks(ylo, yhi, math.max(3, height // 60), false, 0.04, 0.04,
      opts.ymin ~= nil, opts.ymax ~= nil)
  end
  local xticks, xstep
  xticks, xstep, xlo, xhi = axis_ticks(xlo, xhi, math.max(3, width // 90), xint, 0.02, 0.02,
    opts.xmin ~= nil, opts.xmax ~= nil)
  ax.xlo, ax.xhi, ax.ylo, ax.yhi = xlo, xhi, ylo, yhi
  ax.xticks, ax.yticks, ax.xlabels, ax.ylabels = xticks, yticks, {}, {}
  for i, v in ipairs(xticks) do ax.xlabels[i] = tick_label(v, xstep) end
  for i, v in ipairs(yticks) do ax.ylabels[i] = logy and log_label(v) or tick_label(v, ystep) end

  for _, sr in ipairs(list) do
    if sr.name then sr.legend = fit_text(sr.name, math.max(40, width // 3)) end -- name: a string already
  end
  local lw, lh = legend_size(list)
  local cv, X, Y, box = draw_axes(width, height, ax)
  local lx, ly
  local function pixels()
    local all = {}
    for k, sr in ipairs(list) do all[k] = { to_pixels(sr, X, Y, logy) } end
    return all
  end
  local pix = pixels()
  if lw then
    local pts = trace_points(pix)
    if npoints == 0 then -- keep the "no data" note free
      local cx, cy = (box.left + box.right) // 2, (box.top + box.bottom) // 2
      for dx = -24, 24, 4 do pts[#pts + 1] = { cx + dx, cy } end
    end
    local best
    local corners = {
      { box.right - lw - 5, box.top + 6 }, { box.left + 6, box.top + 6 },
      { box.right - lw - 5, box.bottom - lh - 5 }, { box.left + 6, box.bottom - lh - 5 },
      { (box.left + box.right - lw) // 2, box.top + 6 }, { (box.left + box.right - lw) // 2, box.bottom - lh - 5 },
    }
    for _, c in ipairs(corners) do
      local n = count_inside(pts, c[1], c[2], lw, lh)
      if not best or n < best then best, lx, ly = n, c[1], c[2] end
    end
    local too_big = lw > box.right - box.left - 20 or lh > box.bottom - box.top - 20
    if (best > 0 or too_big) and box.right - box.left - lw - 8 >= 60 then
      -- no free corner: the legend goes outside, right of the plot
      ax.right = lw + 8
      cv, X, Y, box = draw_axes(width, height, ax)
      lx, ly = box.right + 8, box.top
      pix = pixels()
    end
  end
  for k, sr in ipairs(list) do
    local xs, ys = clip_pixels(pix[k][1], pix[k][2], box)
    cv:polyline(xs, ys, sr.color, 1.6)
  end
  if npoints == 0 then
    cv:text((box.left + box.right) // 2, (box.top + box.bottom) // 2 - 4, "no data", MUTED, { align = "center" })
  end
  if lw then draw_legend(cv, list, lx, ly, lw, lh) end
  local written = save(cv, path, "plot") -- not a tail call: errors name the caller
  return written
end

--- Writes a bar chart.
-- @tparam {number,...}|Tensor values a list of numbers or a 1-D Tensor (NaN bars are left out)
-- @string path the PNG file
-- @tparam[opt] table opts `labels` (one string per bar; default 1..n), `title, xlabel, ylabel,
--   width = 640, height = 400, color` (one colour) or `colors` (one per bar), `show_values`
--   (numbers above the bars; default when there are at most 20)
-- @treturn string path
function viz.bar(values, path, opts)
  check_path(path, "bar")
  opts = check_opts(opts, "bar")
  local width, height = check_size(opts, "bar", 640, 400)
  local v = to_list(values, "bar", "values", 2)
  local n = #v
  if n == 0 then error("viz.bar: no values", 2) end
  local colors = check_colors(opts.colors, n, "bar", "colors")
  local one_color = opts.color ~= nil and check_colors({ opts.color }, 1, "bar", "color")[1] or nil
  local labels = {}
  for i = 1, n do labels[i] = opts.labels and opts.labels[i] ~= nil and tostring(opts.labels[i]) or tostring(i) end
  local lo, hi = 0, 0
  for i = 1, n do
    if is_finite(v[i]) then lo, hi = math.min(lo, v[i]), math.max(hi, v[i]) end
  end
  if hi == lo then hi = 1 end
  local show = opts.show_values
  if show == nil then show = n <= 20 end
  local span = hi - lo
  if show then -- room for the numbers above the bars
    if hi > 0 then hi = hi + span * 0.08 end
    if lo < 0 then lo = lo - span * 0.08 end
  end
  local yticks, ystep
  yticks, ystep, lo, hi = linear_ticks(lo, hi, math.max(3, math.floor(height / 60)), true)
  local ax = { op = "bar", title = opts.title, xlabel = opts.xlabel, ylabel = opts.ylabel, xlo = 0.5, xhi = n + 0.5,
               ylo = lo, yhi = hi, yticks = yticks, ylabels = {}, xticks = {}, xlabels = {}, no_xgrid = true }
  for i, t in ipairs(yticks) do ax.ylabels[i] = tick_label(t, ystep) end
  -- labels: cut to the room of their bar, or every k-th bar when bars are thin
  local maxw = 0
  for i = 1, n do maxw = math.max(maxw, (text_size(labels[i]))) end
  local slot_est = (width - 80) / n
  local every = slot_est < 24 and math.max(1, math.ceil((maxw + 6) / slot_est)) or 1
  local room = math.max(6, math.floor(every * slot_est) - 4)
  for i = 1, n, every do
    ax.xticks[#ax.xticks + 1] = i
    ax.xlabels[#ax.xlabels + 1] = fit_text(labels[i], room)
  end
  local cv, X, Y, box = draw_axes(width, height, ax)
  local slot = (box.right - box.left) / n
  local bw = math.max(1, math.floor(slot * 0.7))
  local y0 = math.floor(Y(0) + 0.5)
  for i = 1, n do
    if is_finite(v[i]) then
      local colour = colors and colors[i] or one_color or viz.palette[1]
      local cx = X(i)
      local x = math.floor(cx - bw / 2 + 0.5)
      local yv = math.floor(Y(v[i]) + 0.5)
      local top, h = math.min(y0, yv), math.abs(y0 - yv)
      if h > 0 then cv:rect(x, top, bw, h, colour) end
      if show then
        local s = tick_label(v[i], math.max(ystep / 10, 1e-12))
        if math.floor(v[i]) == v[i] then s = string.format("%d", v[i]) end
        local ty = v[i] >= 0 and top - 11 or top + h + 3
        if text_size(s) <= slot then cv:text(math.floor(cx + 0.5), ty, s, MUTED, { align = "center" }) end
      end
    end
  end
  cv:rect(box.left, y0, box.right - box.left + 1, 1, FRAME)
  local written = save(cv, path, "bar") -- not a tail call: errors name the caller
  return written
end

--- Writes a heatmap: each value of a matrix a cell shaded from white (low)
-- to dark blue (high), rows labelled on the left, columns above (reading
-- upwards), a colour bar with the two ends (attention maps: tokens on both
-- axes).
-- @tparam Tensor|table matrix a 2-D Tensor [R, C] or a list of rows
-- @string path the PNG file
-- @tparam[opt] table opts `row_labels, col_labels` (lists of strings), `title, xlabel, ylabel`,
--   `cell = 14` (pixels per cell), `range = {lo, hi}` (default the values' min and max; NaN
--   cells stay grey)
-- @treturn string path
-- @usage mg.viz.heatmap(weights, "out/attention.png", {row_labels = tokens, col_labels = tokens})
function viz.heatmap(matrix, path, opts)
  check_path(path, "heatmap")
  opts = check_opts(opts, "heatmap")
  local rows
  if mg.is_tensor(matrix) then
    if matrix:dim() ~= 2 then error("viz.heatmap: matrix must be 2-D, got " .. matrix:dim() .. " dims", 2) end
    rows = matrix:float():totable()
  elseif type(matrix) == "table" and type(matrix[1]) == "table" then
    rows = matrix
  else
    error("viz.heatmap: matrix must be a 2-D Tensor or a list of rows, got " .. type(matrix), 2)
  end
  local R, C = #rows, #rows[1]
  for i = 2, R do
    if #rows[i] ~= C then error(string.format("viz.heatmap: row %d has %d values, row 1 has %d", i, #rows[i], C), 2) end
  end
  if R == 0 or C == 0 then error("viz.heatmap: the matrix is empty", 2) end
  local cell = opts.cell or 14
  if math.type(cell) ~= "integer" or cell < 1 or cell > 200 then
    error("viz.heatmap: cell must be an integer in 1..200, got " .. tostring(cell), 2)
  end
  local lo, hi = math.huge, -math.huge
  for i = 1, R do
    for j = 1, C do
      local v = rows[i][j]
      if is_finite(v) then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  if opts.range then lo, hi = opts.range[1], opts.range[2] end
  if not (is_finite(lo) and is_finite(hi)) then lo, hi = 0, 1 end
  if hi <= lo then hi = lo + 1 end
  local function label(list, i)
    return list and list[i] ~= nil and tostring(list[i]) or ""
  end
  local lw, ch = 0, 0
  for i = 1, R do lw = math.max(lw, (text_size(label(opts.row_labels, i)))) end
  for j = 1, C do ch = math.max(ch, (text_size(label(opts.col_labels, j)))) end
  local _, th = text_size("Ag")
  local pad = 6
  local left = pad + lw + (lw > 0 and 4 or 0) + (opts.ylabel and th + 6 or 0)
  local top = pad + (opts.title and th + 8 or 0) + (opts.xlabel and th + 6 or 0) + ch + (ch > 0 and 4 or 0)
  local bar_w = 12
  local width = left + C * cell + pad + bar_w + 8 + (text_size(string.format("%.3g", hi))) + pad
  local height = math.max(top + R * cell + pad, top + 60)
  local cv = Canvas(width, height)
  local y = pad
  if opts.title then cv:text(left + (C * cell) // 2, y, opts.title, TEXT, { align = "center" }); y = y + th + 8 end
  if opts.xlabel then cv:text(left + (C * cell) // 2, y, opts.xlabel, MUTED, { align = "center" }) end
  if opts.ylabel then cv:text(pad, top + (R * cell) // 2 - text_size(opts.ylabel) // 2, opts.ylabel, MUTED,
    { vertical = true }) end
  -- value -> colour: white to 0x08306b through a blue ramp
  local function shade(v)
    if not is_finite(v) then return 0xbfbfbf end
    local t = math.max(0, math.min(1, (v - lo) / (hi - lo)))
    local r = math.floor(255 + (8 - 255) * t + 0.5)
    local g = math.floor(255 + (48 - 255) * t + 0.5)
    local b = math.floor(255 + (107 - 255) * t + 0.5)
    return r * 65536 + g * 256 + b
  end
  for i = 1, R do
    local s = label(opts.row_labels, i)
    if s ~= "" then cv:text(left - 4, top + (i - 1) * cell + (cell - th) // 2, s, TEXT, { align = "right" }) end
    for j = 1, C do cv:rect(left + (j - 1) * cell, top + (i - 1) * cell, cell, cell, shade(rows[i][j])) end
  end
  for j = 1, C do
    local s = label(opts.col_labels, j)
    if s ~= "" then
      local w = text_size(s)
      cv:text(left + (j - 1) * cell + (cell - th) // 2, top - 4 - w, s, TEXT, { vertical = true })
    end
  end
  -- the colour bar with its two ends
  local bx, bh = left + C * cell + pad + 4, math.max(40, math.min(R * cell, 200))
  for k = 0, bh - 1 do cv:rect(bx, top + k, bar_w, 1, shade(hi - (hi - lo) * k / (bh - 1))) end
  cv:text(bx + bar_w + 3, top, string.format("%.3g", hi), MUTED)
  cv:text(bx + bar_w + 3, top + bh - th, string.format("%.3g", lo), MUTED)
  local written = save(cv, path, "heatmap")
  return written
end

return viz
