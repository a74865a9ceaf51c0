--- optim.Optimizer: what SGD, Adam and AdamW share.
-- @module moongrad.optim
local mg = require "moongrad"
local class = require "moongrad.class"
local check_options = require("moongrad.options").check

--- The base of the optimizers: parameter groups, option checking,
-- zero_grad, step and the state_dict format.
--
-- Parameters are given as a list of Tensors (what model:parameters()
-- returns) or as a list of groups `{{params = {...}, lr = 0.1}, ...}`; a
-- group's missing options come from the optimizer's options, then from the
-- class defaults. `opt.param_groups[i]` holds the group's options (lr,
-- ...) and its params; schedulers change `group.lr`. `opt.state[p]` is the
-- per-parameter state (step counts, moment tensors).
--
-- `state_dict()` returns `{tensors = {...}, meta = {...}}`: tensors maps
-- "state.<k>.<name>" to Tensor, k the 1-based position of the parameter
-- across all groups, name e.g. "exp_avg" or "momentum_buffer" (the live
-- state tensors: save or clone them before the next step); meta holds
-- plain Lua values that mg.json round-trips: `{optimizer = "Adam",
-- param_groups = {{lr = ..., params = {1, 2, ...}}, ...}, state =
-- {["<k>"] = {step = 3}, ...}}`.
--
-- A new optimizer is a subclass that sets `name` and `class_defaults` and
-- defines `init` (calling `setup`), `update_group`, and optionally
-- `check_group` and `check_state`.
-- @type Optimizer
-- @usage local sd = opt:state_dict()
-- mg.save(path, sd.tensors, {optimizer = mg.json.encode(sd.meta)})
-- local tensors, md = mg.load(path)
-- opt:load_state_dict{tensors = tensors, meta = mg.json.decode(md.optimizer)}   -- resumes bit for bit
local Optimizer = class("optim.Optimizer")

--- Runs fn(...) and re-raises its error (raised with level 0 inside) at
-- `level` above the caller, so that the user's line is blamed.
-- @int level as error's
-- @func fn
-- @param ... fn's arguments
-- @return fn's results
function Optimizer.blame(level, fn, ...)
  local results = table.pack(pcall(fn, ...))
  if not results[1] then error(results[2], level + 1) end
  return table.unpack(results, 2, results.n)
end

--- Raises a formatted error without a position (level 0), for checks run
-- under `blame`.
-- @function Optimizer.fail
-- @string fmt a string.format pattern
-- @param ... its values
local function fail(fmt, ...)
  error(string.format(fmt, ...), 0)
end
Optimizer.fail = fail

local REQUIRED = setmetatable({}, { __tostring = function() return "required" end })

local function copy(v)
  if type(v) ~= "table" or mg.is_tensor(v) or v == REQUIRED then return v end
  local c = {}
  for k, x in pairs(v) do c[k] = copy(x) end
  return c
end

-- Checks a group's option value against the type of the class default.
local function check_type(name, key, value, default)
  local want = type(default)
  if default == false or default == true then want = "boolean" end
  if want == "table" then
    if type(value) ~= "table" then fail("%s: option '%s' must be a table, got %s", name, key, type(value)) end
  elseif want ~= "nil" and type(value) ~= want then
    fail("%s: option '%s' must be a %s, got %s", name, key, want, type(value))
  end
end

--- Sets up param_groups, state and the defaults; subclasses call it from
-- init, with self.name and self.class_defaults (option -> default;
-- Optimizer.REQUIRED for options without one) set.
-- @tparam {Tensor,...}|table params a list of Tensors or of groups `{params = {...}, option = value}`
-- @tparam[opt] table opts the optimizer's options
function Optimizer:setup(params, opts)
  local name = self.name
  opts = check_options(name, opts, self.class_defaults, 0)
  self.defaults = {}
  for k, v in pairs(self.class_defaults) do self.defaults[k] = copy(v) end
  for k, v in pairs(opts) do self.defaults[k] = copy(v) end
  self.param_groups = {}
  self.state = {}
  self._seen = {}
  if mg.is_tensor(params) then params = { params } end
  if type(params) == "table" and getmetatable(params) and type(params.parameters) == "function" then
    fail("%s: got a module (%s), expected its parameters: pass model:parameters()", name,
      getmetatable(params).__name or "nn.Module")
  end
  if type(params) ~= "table" then
    fail("%s: params must be a list of Tensors or of parameter groups, got %s", name, type(params))
  end
  if #params == 0 then fail("%s: got an empty parameter list", name) end
  if mg.is_tensor(params[1]) then
    self:_add_group({ params = params })
  else
    for i, g in ipairs(params) do
      if type(g) ~= "table" or mg.is_tensor(g) then
        fail("%s: element %d of params is a %s; give all Tensors or all groups {params = ...}", name, i,
          mg.is_tensor(g) and "Tensor" or type(g))
      end
      self:_add_group(g)
    end
  end
end

function Optimizer:_add_group(group)
  local name = self.name
  local g = {}
  check_options(name .. " (a parameter group)", group, self:_group_keys(), 0)
  for k, v in pairs(group) do
    if k ~= "params" then g[k] = copy(v) end
  end
  for k, v in pairs(self.defaults) do
    if g[k] == nil then g[k] = copy(v) end
  end
  local ps = group.params
  if mg.is_tensor(ps) then ps = { ps } end
  if type(ps) ~= "table" then fail("%s: a parameter group needs params = {Tensor, ...}", name) end
  g.params = {}
  for i, p in ipairs(ps) do
    if not mg.is_tensor(p) then fail("%s: parameter %d is a %s, expected a Tensor", name, i, type(p)) end
    if p.dtype ~= "float32" then
      fail("%s: parameter %d is %s; only float32 tensors can be optimized", name, i, p.dtype)
    end
    if not p.is_leaf then fail("%s: parameter %d is not a leaf tensor (it has grad_fn=%s)", name, i, p.grad_fn) end
    if self._seen[p] then fail("%s: a parameter appears twice (in one group or in two groups)", name) end
    self._seen[p] = true
    g.params[i] = p
  end
  self:check_group(g)
  self.param_groups[#self.param_groups + 1] = g
end

-- The keys a parameter group may hold: the options, params, initial_lr.
function Optimizer:_group_keys()
  local keys = { params = true, initial_lr = true }
  for k in pairs(self.class_defaults) do keys[k] = true end
  return keys
end

--- Adds a parameter group.
-- @tparam table group `{params = {...}, option = value, ...}`
function Optimizer:add_param_group(group)
  Optimizer.blame(2, self._add_group, self, group)
end

--- Validates a group's options, raising with fail(). Subclasses extend it.
-- @tparam table g the group
function Optimizer:check_group(g)
  local name = self.name
  for k, default in pairs(self.class_defaults) do
    local v = g[k]
    if v == Optimizer.REQUIRED then fail("%s: option '%s' is required", name, k) end
    if default == Optimizer.REQUIRED then default = 0 end
    check_type(name, k, v, default)
  end
  if not (g.lr >= 0) then fail("%s: lr must be >= 0, got %s", name, tostring(g.lr)) end
  if g.weight_decay ~= nil and not (g.weight_decay >= 0) then
    fail("%s: weight_decay must be >= 0, got %s", name, tostring(g.weight_decay))
  end
end

-- Marker for options without a default (SGD's lr).
Optimizer.REQUIRED = REQUIRED

--- Clears the gradients of every parameter.
-- @bool[opt=true] set_to_none true sets .grad to nil, false zeroes it in place
function Optimizer:zero_grad(set_to_none)
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do
      if set_to_none == false then
        local gr = p.grad
        if gr then gr:zero_() end
      else
        p.grad = nil
      end
    end
  end
end

--- Updates every parameter that has a .grad.
-- @func[opt] closure called first with grad mode on (recomputes the loss)
-- @return the closure's result
-- @usage opt:zero_grad(); loss:backward(); opt:step()
function Optimizer:step(closure)
  local loss
  if closure then loss = mg.enable_grad(closure) end
  for _, g in ipairs(self.param_groups) do
    Optimizer.blame(2, self.update_group, self, g)
  end
  return loss
end

--- The state, as described in the class: `{tensors = {...}, meta = {...}}`.
-- @treturn table
function Optimizer:state_dict()
  local tensors, states, groups = {}, {}, {}
  local k = 0
  for gi, g in ipairs(self.param_groups) do
    local pg = { params = {} }
    for key, v in pairs(g) do
      if key ~= "params" then pg[key] = copy(v) end
    end
    for _, p in ipairs(g.params) do
      k = k + 1
      pg.params[#pg.params + 1] = k
      local st = self.state[p]
      if st then
        local entry = {}
        for key, v in pairs(st) do
          if mg.is_tensor(v) then tensors["state." .. k .. "." .. key] = v else entry[key] = v end
        end
        states[tostring(k)] = entry
      end
    end
    groups[gi] = pg
  end
  return { tensors = tensors, meta = { optimizer = self.name, param_groups = groups, state = states } }
end

local function load_state(self, sd)
  local name = self.name
  if type(sd) ~= "table" or type(sd.meta) ~= "table" then
    fail("%s: load_state_dict expects {tensors = ..., meta = ...} as state_dict() returns", name)
  end
  local meta, tensors = sd.meta, sd.tensors or {}
  if meta.optimizer ~= name then
    fail("%s: load_state_dict: the state is from %s, not %s", name, tostring(meta.optimizer), name)
  end
  local saved_groups = meta.param_groups
  if type(saved_groups) ~= "table" or #saved_groups ~= #self.param_groups then
    fail("%s: load_state_dict: the state has %s parameter groups, this optimizer %d", name,
      type(saved_groups) == "table" and #saved_groups or "no", #self.param_groups)
  end
  -- parameters by their position k
  local params, new_groups = {}, {}
  for gi, g in ipairs(self.param_groups) do
    local sg = saved_groups[gi]
    if type(sg) ~= "table" or type(sg.params) ~= "table" or #sg.params ~= #g.params then
      fail("%s: load_state_dict: group %d has %s parameters in the state, %d here", name, gi,
        type(sg) == "table" and type(sg.params) == "table" and #sg.params or "no", #g.params)
    end
    local ng = { params = g.params }
    check_options(string.format("%s: load_state_dict: group %d", name, gi), sg, self:_group_keys(), 0)
    for key, v in pairs(sg) do
      if key ~= "params" then ng[key] = copy(v) end
    end
    for key, v in pairs(self.defaults) do
      if ng[key] == nil then ng[key] = copy(v) end
    end
    self:check_group(ng)
    new_groups[gi] = ng
    for i, p in ipairs(g.params) do params[sg.params[i]] = p end
  end
  local state = {}
  local states = meta.state or {}
  for key, entry in pairs(states) do
    local k = math.tointeger(tonumber(key))
    local p = k and params[k]
    if not p then fail("%s: load_state_dict: state for parameter %s, which does not exist", name, tostring(key)) end
    local st = {}
    for ek, ev in pairs(entry) do st[ek] = copy(ev) end
    state[p] = st
  end
  local names = {}
  for tname in pairs(tensors) do names[#names + 1] = tostring(tname) end
  table.sort(names) -- the first problem found does not depend on table order
  for _, tname in ipairs(names) do
    local t = tensors[tname]
    local k, key = tname:match("^state%.(%d+)%.(.+)$")
    if k then
      local p = params[tonumber(k)]
      if not p then fail("%s: load_state_dict: tensor '%s' is for a parameter that does not exist", name, tname) end
      if not mg.is_tensor(t) then fail("%s: load_state_dict: '%s' is not a Tensor", name, tname) end
      local shape, pshape = t:shape(), p:shape()
      local same = #shape == #pshape and t.dtype == "float32"
      for d = 1, #shape do same = same and shape[d] == pshape[d] end
      if not same then
        fail("%s: load_state_dict: '%s' is %s [%s], the parameter is float32 [%s]", name, tname, t.dtype,
          table.concat(shape, ", "), table.concat(pshape, ", "))
      end
      state[p] = state[p] or {}
      state[p][key] = t:detach():clone():contiguous()
    end
  end
  self:check_state(state)
  self.param_groups = new_groups
  self.state = state
end

--- Checks loaded per-parameter state (subclasses override it).
-- @tparam table state parameter -> its state table
function Optimizer:check_state(state) end -- luacheck: ignore 212

--- Restores what state_dict() returned (also after mg.save / mg.load and a
-- JSON round trip of meta). Hyperparameters come from the state.
-- @tparam table sd `{tensors = {...}, meta = {...}}`
function Optimizer:load_state_dict(sd)
  Optimizer.blame(2, load_state, self, sd)
end

function Optimizer:__tostring()
  local lines = { self.name .. " (" }
  for i, g in ipairs(self.param_groups) do
    local keys = {}
    for k in pairs(g) do if k ~= "params" then keys[#keys + 1] = k end end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do
      local v = g[k]
      if type(v) == "table" then
        local items = {}
        for _, x in ipairs(v) do items[#items + 1] = tostring(x) end
        v = "{" .. table.concat(items, ", ") .. "}"
      end
      parts[#parts + 1] = k .. " = " .. tostring(v)
    end
    lines[#lines + 1] = string.format("  group %d: %d params, %s", i, #g.params, table.concat(parts, ", "))
  end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

return Optimizer
