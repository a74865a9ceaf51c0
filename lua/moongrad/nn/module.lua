--- The base class of every layer and model, `nn.Module`, and `nn.Parameter`.
-- @module moongrad.nn
local mg = require "moongrad"
local class = require "moongrad.class"

--- nn.Module: the base class of every layer and model.
-- A module only writes forward; autograd does the backward pass.
--
-- Registration rules:
--
-- - Assigning a Module to a field registers it as a child under the
--   field's name; assigning a parameter (a float32 leaf tensor with
--   requires_grad set, as `nn.Parameter(t)` makes) registers it as a
--   parameter.
-- - `self:register_buffer(name, t)` registers state that is saved but not
--   trained (running_mean); `register_parameter` and `add_module` register
--   explicitly.
-- - Anything else (numbers, strings, functions, tensors without
--   requires_grad) is a plain field, neither trained nor saved.
-- - Reassigning a registered name replaces the value in place (its order
--   is kept); assigning nil unregisters it. A parameter can only be
--   replaced by a parameter, a child only by a module, a buffer by a
--   tensor. A parameter frozen later with `p:requires_grad_(false)` stays
--   a parameter (listed, saved, loaded).
-- - Integer keys name children too: `seq[2]` is the child named "2".
--
-- Order and names:
--
-- - `parameters()`, `named_parameters()`, `buffers()`, `modules()` list a
--   module's own entries in registration order, then each child's,
--   depth first (PyTorch's order). A tensor or module reachable twice
--   (tied weights) is listed once, under its first name.
-- - Names are dotted paths of field names: "features.1.weight" (children
--   of nn.Sequential and nn.ModuleList are named 1, 2, ... as Lua indices).
-- - `state_dict()` maps every name (tied tensors under each of their
--   names) to a tensor sharing storage with the parameter or persistent
--   buffer; it holds named tensors only, nothing else.
-- - PyTorch numbers container children from 0 ("features.0.weight"), Lua
--   from 1 ("features.1.weight"). `state_dict{keys = "pytorch"}` and
--   `load_state_dict(sd, {keys = "pytorch"})` use PyTorch's names, so that
--   mg.save writes a file PyTorch's load_state_dict takes as it is, and
--   weights saved by PyTorch (as safetensors) load here.
--
-- Modules return new tensors from forward (no reused output buffers), never
-- flatten their parameters, and always take a batch. `module(x, ...)` runs
-- `module:forward(x, ...)`; `tostring(module)` is a readable summary with
-- parameter counts.
-- @type Module
-- @usage local Net = nn.Module:extend("Net")        -- or mg.class("Net", nn.Module)
-- function Net:init(n)
--   nn.Module.init(self)
--   self.fc1 = nn.Linear(784, n)             -- a child module, named "fc1"
--   self.fc2 = nn.Linear(n, 10)
-- end
-- function Net:forward(x) return self.fc2(self.fc1(x:flatten(2)):relu()) end
-- local net = Net(128)
-- local logits = net(x)                      -- __call runs forward
local Module = class("nn.Module")
Module.training = true -- class default; init and train()/eval() set it per instance

local KINDS = { "param", "buffer", "module" }

-- The registry of an instance: values of all fields (plain ones included),
-- the kind of registered names, and the registration order per kind.
local function state(self)
  local st = rawget(self, "_mg")
  if not st then
    st = { values = {}, kind = {}, order = { param = {}, buffer = {}, module = {} }, transient = {} }
    rawset(self, "_mg", st)
  end
  return st
end

local function key_name(key)
  if math.type(key) == "integer" then return tostring(key) end
  return key
end

--- True when v is an nn.Module (an instance of any module class); also
-- `nn.is_module`.
-- @function Module.is_module
-- @param v any value
-- @treturn bool
local function is_module(v)
  return type(v) == "table" and class.is_instance(v, Module)
end

local function is_parameter(v)
  return mg.is_tensor(v) and v.dtype == "float32" and v.requires_grad and v.is_leaf
end

--- The class name of a module, "nn.Linear".
-- @function Module.type_name
-- @tparam Module self
-- @treturn string
local function type_name(self)
  return getmetatable(self).__name or "nn.Module"
end

local function describe_value(v)
  if mg.is_tensor(v) then
    return string.format("a %s tensor [%s]%s", v.dtype, table.concat(v:shape(), ", "),
      v.requires_grad and "" or " without requires_grad")
  end
  if is_module(v) then return "a module (" .. type_name(v) .. ")" end
  return "a " .. type(v)
end

local function register(st, kind, name, value)
  st.kind[name] = kind
  local order = st.order[kind]
  order[#order + 1] = name
  st.values[name] = value
end

local function unregister(st, name)
  local kind = st.kind[name]
  if kind then
    local order = st.order[kind]
    for i = 1, #order do
      if order[i] == name then table.remove(order, i); break end
    end
    st.kind[name] = nil
    st.transient[name] = nil
  end
  st.values[name] = nil
end

-- Fields first (registered or plain), then the class chain (methods).
Module.__index = function(self, key)
  local st = rawget(self, "_mg")
  if st then
    local v = st.values[key_name(key)]
    if v ~= nil then return v end
  end
  return getmetatable(self)[key]
end

Module.__newindex = function(self, key, value)
  local name = key_name(key)
  local st = state(self)
  local kind = st.kind[name]
  if kind == nil then
    if is_module(value) then
      register(st, "module", name, value)
    elseif is_parameter(value) then
      register(st, "param", name, value)
    else
      st.values[name] = value
    end
    return
  end
  if value == nil then unregister(st, name); return end
  if kind == "module" and not is_module(value) then
    error(string.format("%s: cannot assign %s to child module '%s' (a module or nil expected)",
      type_name(self), describe_value(value), name), 2)
  elseif kind == "param" and not is_parameter(value) then
    error(string.format("%s: cannot assign %s to parameter '%s' (nn.Parameter(t) or nil expected)",
      type_name(self), describe_value(value), name), 2)
  elseif kind == "buffer" and not mg.is_tensor(value) then
    error(string.format("%s: cannot assign %s to buffer '%s' (a tensor or nil expected)",
      type_name(self), describe_value(value), name), 2)
  end
  st.values[name] = value
end

-- Runs forward: module(x, ...) is module:forward(x, ...).
Module.__call = function(self, ...) return self:forward(...) end

--- Makes t a parameter: a float32 leaf tensor that requires grad, sharing
-- storage with t (t itself is left unchanged). Also `nn.Parameter`.
-- @tparam Tensor t float32
-- @bool[opt=true] requires_grad
-- @treturn Tensor the parameter
-- @usage self.scale = nn.Parameter(mg.ones(1))
function Module.Parameter(t, requires_grad)
  if not mg.is_tensor(t) then error("nn.Parameter: expects a Tensor, got " .. type(t), 2) end
  if t.dtype ~= "float32" then error("nn.Parameter: expects a float32 tensor, got " .. t.dtype, 2) end
  local p = t:detach()
  if requires_grad ~= false then p:requires_grad_(true) end
  return p
end

--- Sets up the registry and the training flag. Subclasses call it first in
-- their init; calling it again later keeps what was registered.
function Module:init()
  state(self)
  self.training = true
end

--- A subclass of this module class.
-- @string name the class name, shown when the module prints
-- @treturn table the new class
-- @usage local Net = nn.Module:extend("Net")
function Module:extend(name)
  if type(name) ~= "string" then error("nn.Module:extend: expects a class name (string)", 2) end
  return class(name, self)
end

--- Computes the module's output; every module class defines it (the base
-- raises an error saying so). `module(x, ...)` calls it.
-- @param ... the inputs
-- @return the outputs
function Module:forward()
  error(type_name(self) .. ": forward is not defined (define " .. type_name(self) .. ":forward(x))", 2)
end

--- Registers t as a buffer: state that is saved in state_dict when
-- persistent, but not trained.
-- @string name no dots
-- @tparam Tensor|nil t
-- @tparam[opt] table opts `{persistent = true}`
-- @treturn Module self
-- @usage self:register_buffer("running_mean", mg.zeros(c))
function Module:register_buffer(name, t, opts)
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    error("register_buffer: name must be a non-empty string without dots, got " .. tostring(name), 2)
  end
  if t ~= nil and not mg.is_tensor(t) then
    error("register_buffer: '" .. name .. "' must be a Tensor or nil, got " .. describe_value(t), 2)
  end
  local st = state(self)
  local kind = st.kind[name]
  if kind and kind ~= "buffer" then
    error(string.format("register_buffer: '%s' is already a %s of %s", name,
      kind == "param" and "parameter" or "child module", type_name(self)), 2)
  end
  if not kind then
    st.values[name] = nil
    register(st, "buffer", name, t)
  else
    st.values[name] = t
  end
  st.transient[name] = (opts and opts.persistent == false) or nil
  return self
end

--- Registers t as a parameter, setting requires_grad on it.
-- @string name no dots
-- @tparam Tensor|nil t a float32 leaf tensor
-- @treturn Module self
function Module:register_parameter(name, t)
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    error("register_parameter: name must be a non-empty string without dots, got " .. tostring(name), 2)
  end
  if t ~= nil then
    if not mg.is_tensor(t) or t.dtype ~= "float32" then
      error("register_parameter: '" .. name .. "' must be a float32 Tensor, got " .. describe_value(t), 2)
    end
    if not t.is_leaf then
      error("register_parameter: '" .. name .. "' must be a leaf tensor (use nn.Parameter(t) or t:detach())", 2)
    end
    if not t.requires_grad then t:requires_grad_(true) end
  end
  local st = state(self)
  local kind = st.kind[name]
  if kind and kind ~= "param" then
    error(string.format("register_parameter: '%s' is already a %s of %s", name,
      kind == "buffer" and "buffer" or "child module", type_name(self)), 2)
  end
  if not kind then
    st.values[name] = nil
    register(st, "param", name, t)
  else
    st.values[name] = t
  end
  return self
end

--- Registers m as a child.
-- @tparam string|int name
-- @tparam Module m
-- @treturn Module self
function Module:add_module(name, m)
  if type(name) ~= "string" and math.type(name) ~= "integer" then
    error("add_module: name must be a string or an integer, got " .. type(name), 2)
  end
  if not is_module(m) then error("add_module: expects an nn.Module, got " .. describe_value(m), 2) end
  self[name] = m
  return self
end

-- ---- traversal -------------------------------------------------------------

local function join(prefix, name)
  if prefix == "" then return name end
  return prefix .. "." .. name
end

-- Calls fn(module, prefix) for m and its descendants, pre-order; with
-- `seen`, a module reachable twice is visited once.
local function walk(m, prefix, fn, seen)
  if seen then
    if seen[m] then return end
    seen[m] = true
  end
  fn(m, prefix)
  local st = rawget(m, "_mg")
  if not st then return end
  local names, values = st.order.module, st.values
  for i = 1, #names do
    walk(values[names[i]], join(prefix, names[i]), fn, seen)
  end
end

-- Lists {name, value} of the registered entries of a kind (deduplicated),
-- own entries first, then the children's (recurse defaults to true).
local function collect(self, kind, opts)
  local recurse = not (opts and opts.recurse == false)
  local prefix = opts and opts.prefix or ""
  local names, values, seen = {}, {}, {}
  local function own(m, pre)
    local st = rawget(m, "_mg")
    if not st then return end
    local order = st.order[kind]
    for i = 1, #order do
      local v = st.values[order[i]]
      if v ~= nil and not seen[v] then
        seen[v] = true
        names[#names + 1], values[#values + 1] = join(pre, order[i]), v
      end
    end
  end
  if recurse then walk(self, prefix, own, {}) else own(self, prefix) end
  return names, values
end

local function iterate(names, values)
  local i = 0
  return function()
    i = i + 1
    if names[i] ~= nil then return names[i], values[i] end
  end
end

--- The parameter tensors, own first then the children's, depth first.
-- @tparam[opt] table opts `{recurse = true}`
-- @treturn {Tensor,...}
-- @usage local opt = mg.optim.Adam(model:parameters(), {lr = 1e-3})
function Module:parameters(opts)
  local _, values = collect(self, "param", opts)
  return values
end

--- Iterates over parameters with their dotted names.
-- @tparam[opt] table opts `{prefix = "", recurse = true}`
-- @treturn function an iterator of name, tensor
-- @usage for name, p in model:named_parameters() do print(name, p:numel()) end
function Module:named_parameters(opts)
  return iterate(collect(self, "param", opts))
end

--- The buffer tensors.
-- @tparam[opt] table opts `{recurse = true}`
-- @treturn {Tensor,...}
function Module:buffers(opts)
  local _, values = collect(self, "buffer", opts)
  return values
end

--- Iterates over buffers with their dotted names.
-- @tparam[opt] table opts `{prefix = "", recurse = true}`
-- @treturn function an iterator of name, tensor
function Module:named_buffers(opts)
  return iterate(collect(self, "buffer", opts))
end

--- The direct child modules, in registration order.
-- @treturn {Module,...}
function Module:children()
  local _, values = collect(self, "module", { recurse = false })
  return values
end

--- Iterates over the direct children with their names.
-- @treturn function an iterator of name, module
function Module:named_children()
  return iterate(collect(self, "module", { recurse = false }))
end

--- self and all descendants, pre-order, each once.
-- @treturn {Module,...}
function Module:modules()
  local out = {}
  walk(self, "", function(m) out[#out + 1] = m end, {})
  return out
end

--- Iterates over self ("") and all descendants with their dotted names,
-- pre-order.
-- @treturn function an iterator of name, module
function Module:named_modules()
  local names, values = {}, {}
  walk(self, "", function(m, prefix) names[#names + 1], values[#values + 1] = prefix, m end, {})
  return iterate(names, values)
end

--- Calls fn on every descendant and then on self.
-- @func fn called as fn(module)
-- @treturn Module self
-- @usage model:apply(function(m) if m.reset_parameters then m:reset_parameters() end end)
function Module:apply(fn)
  for _, child in ipairs(self:children()) do child:apply(fn) end
  fn(self)
  return self
end

--- Sets the training flag of self and all descendants; dropout and batch
-- norm read it.
-- @bool[opt=true] mode
-- @treturn Module self
function Module:train(mode)
  if mode == nil then mode = true end
  if type(mode) ~= "boolean" then error("train: mode must be a boolean, got " .. type(mode), 2) end
  walk(self, "", function(m) m.training = mode end, {})
  return self
end

--- Evaluation mode: the same as train(false).
-- @treturn Module self
function Module:eval()
  return self:train(false)
end

--- Sets requires_grad on every parameter (false freezes the module).
-- @bool[opt=true] flag
-- @treturn Module self
function Module:requires_grad_(flag)
  if flag == nil then flag = true end
  for _, p in ipairs(self:parameters()) do p:requires_grad_(flag) end
  return self
end

--- Drops the accumulated gradients (sets .grad to nil on every parameter).
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad = nil end
end

--- The number of parameter elements (tied tensors counted once).
-- @tparam[opt] table opts `{trainable = false}`: count only parameters that require grad
-- @treturn int
function Module:num_parameters(opts)
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not (opts and opts.trainable) or p.requires_grad then n = n + p:numel() end
  end
  return n
end

--- A deep copy (PyTorch's copy.deepcopy of a module): new parameters and
-- buffers with the same values (parameters stay parameters, frozen ones
-- frozen; gradients are not copied), children cloned, plain fields copied
-- (tables deeply, functions shared). Tensors and modules tied in the
-- original are tied in the copy.
-- @treturn Module the copy
-- @usage local target_net = model:clone()
function Module:clone()
  local memo = {}
  local function copy(v)
    if memo[v] ~= nil then return memo[v] end
    if mg.is_tensor(v) then
      local c = mg.no_grad(function() return v:detach():clone() end)
      if v.requires_grad and v.is_leaf then c:requires_grad_(true) end
      memo[v] = c
      return c
    end
    if type(v) ~= "table" then return v end
    local out = {}
    memo[v] = out
    for k, x in next, v do rawset(out, copy(k), copy(x)) end
    return setmetatable(out, getmetatable(v))
  end
  return copy(self)
end

-- ---- saving and loading ------------------------------------------------------

-- name -> tensor for every parameter and persistent buffer (all names of
-- tied tensors), own entries before the children's.
local function state_entries(self)
  local names, tensors = {}, {}
  walk(self, "", function(m, prefix)
    local st = rawget(m, "_mg")
    if not st then return end
    for _, kind in ipairs(KINDS) do
      if kind ~= "module" then
        for _, n in ipairs(st.order[kind]) do
          local t = st.values[n]
          if t ~= nil and not st.transient[n] then
            names[#names + 1], tensors[#tensors + 1] = join(prefix, n), t
          end
        end
      end
    end
  end, nil)
  return names, tensors
end

-- Every purely numeric part of a dotted name (a child of nn.Sequential or
-- nn.ModuleList) moved by `by`: -1 gives PyTorch's 0-based names, +1 takes
-- them back. Returns nil for a name that has no PyTorch form (a child 0).
local function renumber(name, by)
  local ok = true
  local out = name:gsub("[^.]+", function(part)
    if part:match("^%d+$") then
      local n = tonumber(part) + by
      if n < 0 then ok = false end
      return tostring(n)
    end
  end)
  return ok and out or nil
end

-- The `keys` option of state_dict and load_state_dict: "moongrad" (default) or "pytorch".
local function key_style(opts, who)
  if opts ~= nil and type(opts) ~= "table" then error(who .. ": options must be a table, got " .. type(opts), 3) end
  local keys = opts and opts.keys or "moongrad"
  if keys ~= "moongrad" and keys ~= "pytorch" then
    error(string.format("%s: option keys must be \"moongrad\" or \"pytorch\", got %s", who, tostring(keys)), 3)
  end
  return keys
end

--- The module's state as named tensors: parameters and persistent
-- buffers (running_mean, running_var, num_batches_tracked), each a
-- detached tensor sharing storage with the module's own.
-- @tparam[opt] table opts `{keys = "moongrad"}`; keys = "pytorch" numbers container children
--   from 0, as PyTorch's state_dict does
-- @treturn table `{name = Tensor, ...}`
-- @usage mg.save("model.safetensors", model:state_dict())
-- mg.save("for_torch.safetensors", model:state_dict{keys = "pytorch"})
-- -- PyTorch: model.load_state_dict(safetensors.torch.load_file("for_torch.safetensors"))
function Module:state_dict(opts)
  local pytorch = key_style(opts, "state_dict") == "pytorch"
  local names, tensors = state_entries(self)
  local sd = {}
  for i, n in ipairs(names) do
    local key = pytorch and renumber(n, -1) or n
    if not key then error("state_dict: '" .. n .. "' has no PyTorch name (a child numbered 0)", 2) end
    sd[key] = tensors[i]:detach()
  end
  return sd
end

local function shape_str(t)
  return "[" .. table.concat(t:shape(), ", ") .. "]"
end

-- True when sd's keys, renumbered by `by`, are exactly the module's names.
local function names_match(sd, names, by)
  local want, n = {}, 0
  for _, name in ipairs(names) do want[name] = true; n = n + 1 end
  for k in pairs(sd) do
    local ours = type(k) == "string" and (by == 0 and k or renumber(k, by))
    if not (ours and want[ours]) then return false end
    want[ours] = nil
    n = n - 1
  end
  return n == 0
end

--- Copies the tensors of sd into the module's parameters and buffers, in
-- place and without recording a graph. Everything is checked before
-- anything is copied: with strict, a key missing from sd or one the module
-- does not have is an error; a shape mismatch always is.
-- @tparam table sd `{name = Tensor, ...}`, as state_dict or mg.load give it
-- @tparam[opt] table opts `{strict = true, keys = "moongrad"}`; keys = "pytorch" reads
--   PyTorch's names (children numbered from 0), as in a file PyTorch saved
-- @treturn table `{missing_keys = {...}, unexpected_keys = {...}}` (in sd's naming)
-- @usage model:load_state_dict(mg.load("model.safetensors"))
-- model:load_state_dict(mg.load("from_torch.safetensors"), {keys = "pytorch"})
function Module:load_state_dict(sd, opts)
  if type(sd) ~= "table" or mg.is_tensor(sd) then
    error("load_state_dict: expects a table of name -> Tensor, got " .. type(sd), 2)
  end
  local pytorch = key_style(opts, "load_state_dict") == "pytorch"
  if pytorch then
    local ours = {}
    for k, v in pairs(sd) do ours[type(k) == "string" and renumber(k, 1) or k] = v end
    sd = ours
  end
  local function shown(n) return pytorch and renumber(n, -1) or n end -- as the caller names it
  local strict = not (opts and opts.strict == false)
  local names, tensors = state_entries(self)
  if not pytorch and #names > 0 and not names_match(sd, names, 0) and names_match(sd, names, 1) then
    error("load_state_dict: the keys are PyTorch's names (children numbered from 0, as in "
      .. renumber(names[1], -1) .. "): pass {keys = \"pytorch\"} to load them", 2)
  end
  local known, missing, unexpected, problems = {}, {}, {}, {}
  local pairs_to_copy = {}
  for i, n in ipairs(names) do
    known[n] = true
    local v, t = sd[n], tensors[i]
    if v == nil then
      missing[#missing + 1] = n
    elseif not mg.is_tensor(v) then
      problems[#problems + 1] = string.format("%s in the file is a %s, expected a Tensor", shown(n), type(v))
    else
      local same = v:dim() == t:dim()
      if same then
        for d = 1, t:dim() do if v:size(d) ~= t:size(d) then same = false; break end end
      end
      if not same then
        problems[#problems + 1] = string.format("%s has shape %s in the file, %s in the model",
          shown(n), shape_str(v), shape_str(t))
      else
        pairs_to_copy[#pairs_to_copy + 1] = { t, v }
      end
    end
  end
  for k in pairs(sd) do
    if not known[k] then unexpected[#unexpected + 1] = tostring(k) end
  end
  table.sort(unexpected)
  for i, n in ipairs(missing) do missing[i] = shown(n) end
  for i, n in ipairs(unexpected) do unexpected[i] = shown(n) end
  if strict then
    if #missing > 0 then
      problems[#problems + 1] = "missing from the file: " .. table.concat(missing, ", ")
    end
    if #unexpected > 0 then
      problems[#problems + 1] = "not in the model (unexpected): " .. table.concat(unexpected, ", ")
    end
  end
  if #problems > 0 then error("load_state_dict: " .. table.concat(problems, "; "), 2) end
  mg.no_grad(function()
    for _, tv in ipairs(pairs_to_copy) do tv[1]:copy_(tv[2]) end
  end)
  return { missing_keys = missing, unexpected_keys = unexpected }
end

-- ---- printing -----------------------------------------------------------------

--- The description inside the parentheses of a module's line ("784 -> 128");
-- layers override it.
-- @treturn string
function Module:extra_repr()
  return ""
end

--- The module's one-line description, "nn.Linear(784 -> 128)", or the bare
-- class name without an extra_repr.
-- @treturn string
function Module:short_repr()
  local extra = self:extra_repr()
  if extra == nil or extra == "" then return type_name(self) end
  return type_name(self) .. "(" .. extra .. ")"
end

local function own_param_count(m)
  local n = 0
  for _, p in ipairs(m:parameters({ recurse = false })) do n = n + p:numel() end
  return n
end

local function thousands(n)
  local s = tostring(math.tointeger(n) or n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end

-- Appends {text, count} lines describing m to `lines`.
local function describe(m, label, indent, lines)
  local children = m:children()
  if #children == 0 then
    local n = own_param_count(m)
    lines[#lines + 1] = { indent .. label .. m:short_repr(), n > 0 and n or nil }
    return
  end
  lines[#lines + 1] = { indent .. label .. m:short_repr() .. " {" }
  local inner = indent .. "  "
  local st = rawget(m, "_mg")
  for _, n in ipairs(st.order.param) do
    local p = st.values[n]
    if p ~= nil then lines[#lines + 1] = { inner .. n .. ": parameter " .. shape_str(p), p:numel() } end
  end
  for _, n in ipairs(st.order.module) do
    local child = st.values[n]
    local tag = n:match("^%d+$") and ("(" .. n .. "): ") or (n .. ": ")
    describe(child, tag, inner, lines)
  end
  lines[#lines + 1] = { indent .. "}" }
end

-- Readable summary: children indented, parameter counts in a column, the
-- total at the end. A module without children prints as its one-line
-- description, "nn.Linear(784 -> 128)" (num_parameters() gives its count).
function Module:__tostring()
  local lines = {}
  describe(self, "", "", lines)
  local total = self:num_parameters()
  if #lines == 1 then return lines[1][1] end
  local width = 0
  for _, l in ipairs(lines) do
    if l[2] and #l[1] > width then width = #l[1] end
  end
  local out = {}
  for i, l in ipairs(lines) do
    if l[2] then
      out[i] = l[1] .. string.rep(" ", width - #l[1] + 2) .. string.format("%12s", thousands(l[2]))
    else
      out[i] = l[1]
    end
  end
  out[#out] = out[#out] .. "  " .. thousands(total) .. " parameters"
  return table.concat(out, "\n")
end

Module.is_module = is_module
Module.type_name = type_name

return Module
