-- Checkpoints: model, optimizer, scheduler, data-loader position, RNG state,
-- epoch and step, in one safetensors file (tensors plus string metadata)
-- and a small JSON sidecar for people and scripts. Both are written
-- atomically (temporary file, fsync, rename), the safetensors file first:
-- it alone is enough to resume, so a crash between the two writes loses
-- nothing; the sidecar carries the same id to show they belong together.
--
--   save(path, {model = m, optimizer = opt, scheduler = s, loader = l,
--               epoch = e, step = n, extra = {...}})
--   load(path, {model = m, optimizer = opt, ...}) -> {epoch, step, extra}
-- path "out/run/checkpoint" names out/run/checkpoint.safetensors and
-- out/run/checkpoint.json (a trailing .safetensors is accepted too).
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

--- Writes a checkpoint; returns the path of the safetensors file.
function M.save(path, state)
  local base = base_of(path)
  if type(state) ~= "table" or not state.model then error("checkpoint.save: state needs at least a model", 2) end
  local dir = base:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then mg.mkdir(dir) end
  local tensors, meta = {}, { format = FORMAT }
  for name, t in pairs(state.model:state_dict()) do tensors["model." .. name] = t end
  if state.optimizer then
    local sd = state.optimizer:state_dict()
    for name, t in pairs(sd.tensors) do tensors["optimizer." .. name] = t end
    meta.optimizer = json.encode(sd.meta)
  end
  if state.scheduler then meta.scheduler = json.encode(state.scheduler:state_dict()) end
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

--- Restores what save() wrote into the given objects (each optional but the
-- model) and the RNG state; returns {epoch, step, extra}.
function M.load(path, into)
  local file = base_of(path) .. ".safetensors"
  if type(into) ~= "table" or not into.model then error("checkpoint.load: give at least {model = ...}", 2) end
  local tensors, meta = mg.load(file)
  if type(meta) ~= "table" or meta.format ~= FORMAT then
    error("checkpoint.load: " .. file .. " is not a moongrad checkpoint (format " .. tostring(meta and meta.format) .. ")", 2)
  end
  into.model:load_state_dict(prefixed(tensors, "model."))
  if into.optimizer then
    if not meta.optimizer then error("checkpoint.load: " .. file .. " has no optimizer state", 2) end
    into.optimizer:load_state_dict({ tensors = prefixed(tensors, "optimizer."), meta = json.decode(meta.optimizer) })
  end
  if into.scheduler then
    if not meta.scheduler then error("checkpoint.load: " .. file .. " has no scheduler state", 2) end
    into.scheduler:load_state_dict(json.decode(meta.scheduler))
  end
  if into.loader and meta.loader then
    into.loader:load_state_dict({ tensors = prefixed(tensors, "loader."), meta = json.decode(meta.loader) })
  end
  if into.rng ~= false then
    mg.set_rng_state({ seed = string_int(meta.rng_seed, "rng seed"), counter = string_int(meta.rng_counter, "rng counter") })
  end
  return {
    epoch = string_int(meta.epoch, "epoch"), step = string_int(meta.step, "step"),
    extra = meta.extra and json.decode(meta.extra) or {}, id = meta.id,
  }
end

return M
