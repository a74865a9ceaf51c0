--- Checkpoints: model, optimizer, scheduler, data-loader position, RNG
-- state, epoch and step, in one safetensors file (tensors plus string
-- metadata) and a small JSON sidecar for people and scripts. Both are
-- written atomically (temporary file, fsync, rename), the safetensors file
-- first: it alone is enough to resume, so a crash between the two writes
-- loses nothing; the sidecar carries the same id to show they belong
-- together. Several of each go in maps: `{models = {G = g, D = d},
-- optimizers = {g = opt_g, d = opt_d}, schedulers = {...}}` (names without
-- dots). Path "out/run/checkpoint" names out/run/checkpoint.safetensors and
-- out/run/checkpoint.json (a trailing .safetensors is accepted too).
-- @module moongrad.train.checkpoint
-- @alias M
-- @usage mg.train.checkpoint.save("out/run/checkpoint", {model = m, optimizer = opt, epoch = 3})
-- local info = mg.train.checkpoint.load("out/run/checkpoint", {model = m, optimizer = opt})
local mg = require "moongrad"
local json = require "moongrad.json"

local M = {}
local FORMAT = "moongrad.checkpoint/1"

local function base_of(path)
  if type(path) ~= "string" or path == "" then error("checkpoint: expected a path, got " .. tostring(path), 3) end
  return (path:gsub("%.safetensors$", ""):gsub("%.json$", ""))
end

local function write_text_atomic(path, text)
  local tmp = path .. ".tmp"
  local f, err = io.open(tmp, "w")
  if not f then error("checkpoint: cannot write " .. path .. ": " .. tostring(err), 0) end
  f:write(text)
  f:close()
  local ok, rerr = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    error("checkpoint: cannot write " .. path .. ": " .. tostring(rerr), 0)
  end
end

local function int_string(v) return string.format("%d", v) end
local function string_int(s, what)
  local v = s and math.tointeger(tonumber(s))
  if not v then error("checkpoint: bad " .. what .. " in the file: " .. tostring(s), 0) end
  return v
end

-- The (key, object) pairs of state: "model" for state.model, "models.G"
-- for state.models.G, and so on for optimizers and schedulers.
local function entries(state, single, many)
  local out = {}
  if state[single] then out[#out + 1] = { single, state[single] } end
  local names = {}
  for name in pairs(state[many] or {}) do
    if type(name) ~= "string" or name:find(".", 1, true) or name == "" then
      error("checkpoint: " .. many .. " names must be strings without dots, got " .. tostring(name), 3)
    end
    names[#names + 1] = name
  end
  table.sort(names)
  for _, name in ipairs(names) do out[#out + 1] = { many .. "." .. name, state[many][name] } end
  return out
end

--- Writes a checkpoint.
-- @string path
-- @tparam table state `{model = m, optimizer = opt, scheduler = s, loader = l, epoch = e,
--   step = n, extra = {...}}`, or maps models, optimizers, schedulers
-- @treturn string the path of the safetensors file
function M.save(path, state)
  local base = base_of(path)
  if type(state) ~= "table" or not (state.model or state.models) then
    error("checkpoint.save: state needs at least a model", 2)
  end
  local dir = base:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then mg.mkdir(dir) end
  local tensors, meta = {}, { format = FORMAT }
  for _, e in ipairs(entries(state, "model", "models")) do
    for name, t in pairs(e[2]:state_dict()) do tensors[e[1] .. "." .. name] = t end
  end
  for _, e in ipairs(entries(state, "optimizer", "optimizers")) do
    local sd = e[2]:state_dict()
    for name, t in pairs(sd.tensors) do tensors[e[1] .. "." .. name] = t end
    meta[e[1]] = json.encode(sd.meta)
  end
  for _, e in ipairs(entries(state, "scheduler", "schedulers")) do meta[e[1]] = json.encode(e[2]:state_dict()) end
  if state.loader then
    local sd = state.loader:state_dict()
    for name, t in pairs(sd.tensors) do tensors["loader." .. name] = t end
    meta.loader = json.encode(sd.meta)
  end
  local rng = mg.get_rng_state()
  meta.rng_seed, meta.rng_counter = int_string(rng.seed), int_string(rng.counter)
  meta.epoch = int_string(state.epoch or 0)
  meta.step = int_string(state.step or 0)
  meta.extra = json.encode(state.extra or {})
  meta.id = string.format("%d-%d-%.6f", state.epoch or 0, state.step or 0, mg.clock())
  local file = base .. ".safetensors"
  mg.save(file, tensors, meta)
  write_text_atomic(base .. ".json", json.encode({
    format = FORMAT, id = meta.id, epoch = state.epoch or 0, step = state.step or 0,
    file = file:match("[^/]*$"), extra = state.extra or {},
  }) .. "\n")
  return file
end

--- True when a checkpoint exists at path.
-- @string path
-- @treturn bool
function M.exists(path)
  local f = io.open(base_of(path) .. ".safetensors", "rb")
  if f then f:close() return true end
  return false
end

local function prefixed(tensors, prefix)
  local out, n = {}, #prefix
  for name, t in pairs(tensors) do
    if name:sub(1, n) == prefix then out[name:sub(n + 1)] = t end
  end
  return out
end

--- Restores what save() wrote into the given objects (each optional but
-- the model) and the RNG state.
-- @string path
-- @tparam table into `{model = m, optimizer = opt, ...}` as given to save
-- @treturn table `{epoch, step, extra, loader}` (loader: the loader's saved
-- position `{epoch, position}`, when one was saved)
function M.load(path, into)
  local file = base_of(path) .. ".safetensors"
  if type(into) ~= "table" or not (into.model or into.models) then
    error("checkpoint.load: give at least {model = ...}", 2)
  end
  local tensors, meta = mg.load(file)
  if type(meta) ~= "table" or meta.format ~= FORMAT then
    error("checkpoint.load: " .. file .. " is not a moongrad checkpoint (format " .. tostring(meta and meta.format)
      .. ")", 2)
  end
  for _, e in ipairs(entries(into, "model", "models")) do
    e[2]:load_state_dict(prefixed(tensors, e[1] .. "."))
  end
  for _, e in ipairs(entries(into, "optimizer", "optimizers")) do
    if not meta[e[1]] then error("checkpoint.load: " .. file .. " has no " .. e[1] .. " state", 2) end
    e[2]:load_state_dict({ tensors = prefixed(tensors, e[1] .. "."), meta = json.decode(meta[e[1]]) })
  end
  for _, e in ipairs(entries(into, "scheduler", "schedulers")) do
    if not meta[e[1]] then error("checkpoint.load: " .. file .. " has no " .. e[1] .. " state", 2) end
    e[2]:load_state_dict(json.decode(meta[e[1]]))
  end
  if into.loader and meta.loader then
    into.loader:load_state_dict({ tensors = prefixed(tensors, "loader."), meta = json.decode(meta.loader) })
  end
  if into.rng ~= false then
    mg.set_rng_state({ seed = string_int(meta.rng_seed, "rng seed"),
      counter = string_int(meta.rng_counter, "rng counter") })
  end
  return {
    epoch = string_int(meta.epoch, "epoch"), step = string_int(meta.step, "step"),
    extra = meta.extra and json.decode(meta.extra) or {}, id = meta.id,
    loader = meta.loader and json.decode(meta.loader) or nil,
  }
end

return M
