--- Datasets: MNIST digits and Fashion-MNIST read from IDX files. The full
-- sets live in <data>/full/<set>/ once `make data` has run; otherwise the
-- bundled sample in <data>/sample/<set>/ is used. <data> is the data/
-- folder beside lua/, or an installation's data folder, or $MOONGRAD_DATA,
-- or the root option.
-- @module moongrad.data
local mg = require "moongrad"
local class = require "moongrad.class"

local M = {}

local TensorDataset = require("moongrad.data.tensor_dataset").TensorDataset
M.TensorDataset = TensorDataset

-- ---- where the data is --------------------------------------------------------

-- <root>/data, from this file's own path in a checkout; in an installed
-- tree, the folder `make install` (or luarocks) wrote into
-- moongrad.installed; else "data" (the working folder's).
local function package_data_dir()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then
    local root = src:sub(2):match("^(.-)lua/moongrad/data/datasets%.lua$")
    if root then return root .. "data" end
  end
  local ok, installed = pcall(require, "moongrad.installed")
  if ok and type(installed) == "table" and installed.data_dir then return installed.data_dir end
  return "data"
end

--- The data folder: the root option, else $MOONGRAD_DATA, else the
-- package's own (see the module).
-- @string[opt] root
-- @treturn string
function M.data_dir(root)
  if root ~= nil then return root end
  local env = os.getenv("MOONGRAD_DATA")
  if env and env ~= "" then return env end
  return package_data_dir()
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- The image and label files of a split in dir (plain or .gz), or nil.
local function split_files(dir, split)
  local prefix = split == "train" and "train" or "t10k"
  local found = {}
  for k, kind in ipairs({ "images-idx3-ubyte", "labels-idx1-ubyte" }) do
    local base = dir .. "/" .. prefix .. "-" .. kind
    if exists(base) then found[k] = base
    elseif exists(base .. ".gz") then found[k] = base .. ".gz"
    else return nil end
  end
  return found[1], found[2]
end

-- ---- MNIST-like sets ------------------------------------------------------------

--- An image set: a TensorDataset with fields images (float32
-- [N, 1, 28, 28] in [0, 1]) and labels (int64 [N], 1-based classes), and
-- classes (the class names), name, split, source ("full" or "sample") and
-- dir.
-- @type Dataset
local Dataset = class("data.Dataset", TensorDataset)
M.Dataset = Dataset

function Dataset:__tostring()
  return string.format("%s %s (%s): %d images [%s], %d classes", self.name, self.split, self.source, #self,
    table.concat(self.images:shape(), ", "), #self.classes)
end

local announced = {} -- name -> true once the source was reported on stderr

local OPTIONS = { "split", "root", "limit", "quiet", "source" }

local function check_opts(name, opts)
  opts = mg.check_options(name, opts, OPTIONS, 3)
  local split = opts.split or "train"
  if split ~= "train" and split ~= "test" then
    error(string.format("%s: split must be \"train\" or \"test\", got %s", name, tostring(split)), 4)
  end
  local limit = opts.limit
  if limit ~= nil and (type(limit) ~= "number" or limit < 1 or limit ~= math.floor(limit)) then
    error(name .. ": limit must be a positive integer, got " .. tostring(limit), 4)
  end
  if opts.root ~= nil and type(opts.root) ~= "string" then
    error(name .. ": root must be a string (the data folder), got " .. type(opts.root), 4)
  end
  local source = opts.source or "auto"
  if source ~= "auto" and source ~= "full" and source ~= "sample" then
    error(string.format("%s: source must be \"auto\", \"full\" or \"sample\", got %s", name, tostring(source)), 4)
  end
  return { split = split, limit = limit and math.tointeger(limit), root = opts.root, quiet = opts.quiet,
    source = source }
end

-- Loads one split of a 28x28 grey set. spec: name, folder, classes.
local function load(spec, opts)
  local o = check_opts(spec.name, opts)
  local data = M.data_dir(o.root)
  local source, dir = "full", data .. "/full/" .. spec.folder
  local images_file, labels_file
  if o.source ~= "sample" then images_file, labels_file = split_files(dir, o.split) end
  if not images_file and o.source ~= "full" then
    source, dir = "sample", data .. "/sample/" .. spec.folder
    images_file, labels_file = split_files(dir, o.split)
  end
  if not images_file and o.source == "full" then
    error(string.format("%s: the full set is not in %s/full/%s; run `make data`", spec.name, data, spec.folder), 3)
  end
  if not images_file then
    error(string.format("%s: no %s files in %s/full/%s or %s/sample/%s; run `make data`, or point MOONGRAD_DATA "
      .. "or the root option at the data folder", spec.name, o.split, data, spec.folder, data, spec.folder), 3)
  end
  local images = mg.read_idx(images_file, { scale = 1 / 255 })
  local labels = mg.read_idx(labels_file)
  if images:dim() ~= 3 then
    error(string.format("%s: %s holds [%s], expected images [N, H, W]", spec.name, images_file,
      table.concat(images:shape(), ", ")), 3)
  end
  local n = images:size(1)
  if labels:dim() ~= 1 or labels:size(1) ~= n then
    error(string.format("%s: %s holds [%s], expected %d labels", spec.name, labels_file,
      table.concat(labels:shape(), ", "), n), 3)
  end
  if labels.dtype == "float32" then
    error(string.format("%s: %s holds float labels, expected integer classes", spec.name, labels_file), 3)
  end
  labels = labels:float()
  local lo, hi = labels:min():item(), labels:max():item()
  if n > 0 and (lo < 0 or hi >= #spec.classes) then
    error(string.format("%s: %s has labels in %d..%d, expected 0..%d", spec.name, labels_file, lo, hi,
      #spec.classes - 1), 3)
  end
  labels = (labels + 1):long()
  images = images:view(n, 1, images:size(2), images:size(3))
  if o.limit and o.limit < n then
    images = images:narrow(1, 1, o.limit):clone()
    labels = labels:narrow(1, 1, o.limit):clone()
  end
  local ds = Dataset { images = images, labels = labels }
  ds.classes = spec.classes
  ds.name, ds.split, ds.source, ds.dir = spec.name, o.split, source, dir
  if not o.quiet and not announced[spec.name] then
    announced[spec.name] = true
    if source == "sample" then
      io.stderr:write(string.format("%s: using the bundled sample (%d %s images); run `make data` for the full set\n",
        spec.name, n, o.split))
    else
      io.stderr:write(string.format("%s: using the full set in %s (%d %s images)\n", spec.name, dir, n, o.split))
    end
  end
  return ds
end

local DIGITS = { "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" }
local FASHION = { "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
  "Ankle boot" }

--- MNIST digits: digit d is class d + 1, classes {"0", ..., "9"}.
-- @tparam[opt] table opts `{split = "train"|"test", root = nil, limit = nil, quiet = false,
--   source = "auto"|"full"|"sample"}`: limit keeps the first `limit` images; quiet skips
--   the note on stderr saying which files are used; source picks the full set or the
--   bundled sample (auto: the full set when `make data` fetched it, else the sample)
-- @treturn Dataset
-- @usage local train = mg.data.mnist{split = "train", limit = 1000}
function M.mnist(opts)
  return load({ name = "mnist", folder = "mnist", classes = DIGITS }, opts)
end

--- Fashion-MNIST, as mnist; classes are the article names ("T-shirt/top",
-- "Trouser", ..., "Ankle boot").
-- @tparam[opt] table opts as for mnist
-- @treturn Dataset
function M.fashion_mnist(opts)
  return load({ name = "fashion_mnist", folder = "fashion", classes = FASHION }, opts)
end

return M
