--- A tiny class helper (`mg.class`).
-- Instances get the class as metatable; methods, metamethods (__tostring,
-- __call, __newindex, ...) and class fields are inherited from parents.
-- A class whose __index is a function (nn.Module's, which finds registered
-- submodules and parameters before methods) passes that function on to its
-- subclasses; the function is expected to look methods up in
-- getmetatable(instance), so one function serves every subclass.
-- @module moongrad.class
-- @usage local class = require "moongrad.class"
-- local Point = class("Point")                 -- name, optional parent
-- function Point:init(x, y) self.x, self.y = x, y end
-- function Point:norm() return math.sqrt(self.x ^ 2 + self.y ^ 2) end
-- print(Point(3, 4):norm())                    --> 5.0
local INHERITED = {
  "__tostring", "__call", "__len", "__eq", "__lt", "__le", "__close", "__newindex",
  "__concat", "__unm", "__add", "__sub", "__mul", "__div", "__pairs",
}

--- A new class; calling it makes an instance and runs its init. Also
-- `mg.class(name, parent)`.
-- @function class
-- @string name the class name (`tostring` of the class shows it)
-- @tparam[opt] table parent the class to inherit from
-- @treturn table the class
local function class(name, parent)
  local cls = {}
  cls.__name = name
  cls.__index = cls
  cls.super = parent
  if parent then
    -- metamethods are looked up raw, so copy the parent's down
    for _, mm in ipairs(INHERITED) do
      if rawget(cls, mm) == nil and parent[mm] ~= nil then cls[mm] = parent[mm] end
    end
    local index = rawget(parent, "__index")
    if type(index) == "function" then cls.__index = index end
  end
  return setmetatable(cls, {
    __index = parent,
    __call = function(c, ...)
      local obj = setmetatable({}, c)
      if c.init then c.init(obj, ...) end
      return obj
    end,
    __tostring = function() return "class " .. name end,
  })
end

--- True when obj is an instance of cls or of a subclass.
-- @function is_instance
-- @param obj any value
-- @tparam table cls
-- @treturn bool
local function is_instance(obj, cls)
  if type(obj) ~= "table" then return false end
  local c = getmetatable(obj)
  while c do
    if c == cls then return true end
    c = rawget(c, "super")
  end
  return false
end

return setmetatable({ class = class, is_instance = is_instance }, {
  __call = function(_, ...) return class(...) end,
})
