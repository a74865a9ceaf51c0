--- Containers: nn.Sequential (children run in order) and nn.ModuleList (a
-- list of modules whose parameters are registered; no forward of its own).
-- Children are named 1, 2, ... : seq[2] is the second child, #seq the
-- count, and ipairs(seq) walks them.
-- @module moongrad.nn
local Module = require "moongrad.nn.module"
local fusion = require "moongrad.nn.fusion"

local M = {}

-- Reads the modules given as a list table or as arguments.
local function module_list(who, ...)
  local n = select("#", ...)
  local list = { ... }
  local first = list[1]
  if n == 1 and type(first) == "table" and not Module.is_module(first) then
    list, n = first, #first
  end
  for i = 1, n do
    if not Module.is_module(list[i]) then
      error(string.format("%s: element %d is %s, expected an nn.Module", who, i,
        list[i] == nil and "nil" or type(list[i])), 3)
    end
  end
  return list, n
end

local function count(self)
  local st = rawget(self, "_mg")
  return st and #st.order.module or 0
end

local function append(self, who, m)
  if not Module.is_module(m) then
    error(who .. ": expects an nn.Module, got " .. type(m), 3)
  end
  self[count(self) + 1] = m
  return self
end

-- ---- Sequential -----------------------------------------------------------------

--- A chain of modules, each run on the previous one's output. Children are
-- named 1, 2, ...: `seq[2]` is the second, `#seq` the count. An error names
-- the child that raised it: "nn.Sequential[3] (nn.Linear 784 -> 128): ...".
-- @type Sequential
-- @usage local model = nn.Sequential{
--   nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
--   nn.Linear(32 * 13 * 13, 10),
-- }
-- local logits = model(x)
local Sequential = Module:extend("nn.Sequential")
M.Sequential = Sequential

--- nn.Sequential{m1, m2, ...} or nn.Sequential(m1, m2, ...): a new container.
-- @param ... the modules, or one list of them
function Sequential:init(...)
  Module.init(self)
  local list, n = module_list("nn.Sequential", ...)
  for i = 1, n do self[i] = list[i] end
end

Sequential.__len = count

--- Appends a module at the end (also `append`).
-- @tparam Module m
-- @treturn Sequential self
function Sequential:add(m) return append(self, "nn.Sequential:add", m) end
Sequential.append = Sequential.add

--- Runs the children in order. Conv2d, ReLU [, MaxPool2d(2)] run as one
-- fused op with the same values (nn/fusion.lua).
-- @param x the input of the first child
-- @return the output of the last child
function Sequential:forward(x)
  local st = rawget(self, "_mg")
  local names, values = st.order.module, st.values
  local children = {}
  for i = 1, #names do children[i] = values[names[i]] end
  local i = 1
  while i <= #names do
    local fused, fout = fusion.run(children, i, x)
    if fused then
      x, i = fout, i + fused
    else
      local child = children[i]
      local ok, out = pcall(child, x)
      if not ok then
        if type(out) ~= "string" then error(out, 0) end
        local extra = child:extra_repr()
        local what = Module.type_name(child) .. ((extra and extra ~= "") and (" " .. extra) or "")
        -- the position inside a layer file of this library tells users nothing
        out = out:gsub("^[^%s:]*moongrad/nn/[%w_]+%.lua:%d+: ", "")
        error(string.format("nn.Sequential[%s] (%s): %s", names[i], what, out), 0)
      end
      x, i = out, i + 1
    end
  end
  return x
end

-- ---- ModuleList -------------------------------------------------------------------

--- A list of modules whose parameters are registered, for models that
-- call their parts themselves; it has no forward of its own.
-- @type ModuleList
-- @usage self.blocks = nn.ModuleList{nn.Linear(64, 64), nn.Linear(64, 64)}
-- for _, block in ipairs(self.blocks) do x = block(x):relu() end
local ModuleList = Module:extend("nn.ModuleList")
M.ModuleList = ModuleList

--- nn.ModuleList{m1, m2, ...} or nn.ModuleList(m1, m2, ...): a new list
-- (empty is fine).
-- @param ... the modules, or one list of them
function ModuleList:init(...)
  Module.init(self)
  if select("#", ...) == 0 then return end
  local list, n = module_list("nn.ModuleList", ...)
  for i = 1, n do self[i] = list[i] end
end

ModuleList.__len = count

--- Appends a module (also `add`).
-- @tparam Module m
-- @treturn ModuleList self
function ModuleList:append(m) return append(self, "nn.ModuleList:append", m) end
ModuleList.add = ModuleList.append

--- Appends every module of a list. (On the class, `ModuleList:extend("Name")`
-- makes a subclass, as for any module.)
-- @tparam {Module,...} list
-- @treturn ModuleList self
function ModuleList:extend(list)
  if type(list) == "string" then return Module.extend(self, list) end
  if type(list) ~= "table" then error("nn.ModuleList:extend: expects a list of modules", 2) end
  for _, m in ipairs(list) do append(self, "nn.ModuleList:extend", m) end
  return self
end

--- Raises an error: a ModuleList has no forward; call its modules.
function ModuleList:forward()
  error("nn.ModuleList has no forward: call its modules (for i, m in ipairs(list) do ... end)", 2)
end

return M
