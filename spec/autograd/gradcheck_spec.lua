-- Every differentiable op of the core's op table has a finite-difference
-- gradient check here; an op without one fails the coverage test.
-- Checks live in spec/gradcheck/*.lua, one table per source area.
local H = require "helpers"
local mg = H.mg

local checks, origin = {}, {}
local listing = io.popen("ls spec/gradcheck/*.lua")
for path in listing:lines() do
  local name = path:match("([%w_]+)%.lua$")
  for op, fn in pairs(require("gradcheck." .. name)) do
    assert(not checks[op], "two gradient checks for " .. op)
    checks[op], origin[op] = fn, name
  end
end
listing:close()

describe("gradient checks", function()
  before_each(H.reseed(7))

  it("cover every op in the op table", function()
    local missing = {}
    for _, op in ipairs(mg.ops()) do
      if not checks[op] then missing[#missing + 1] = op end
    end
    assert.are.same({}, missing)
  end)

  it("name only ops that exist", function()
    local known = {}
    for _, op in ipairs(mg.ops()) do known[op] = true end
    for op in pairs(checks) do assert.is_true(known[op] == true, "check for unknown op " .. op) end
  end)

  local names = {}
  for op in pairs(checks) do names[#names + 1] = op end
  table.sort(names)
  for _, op in ipairs(names) do
    it("of " .. op .. " (" .. origin[op] .. ")", checks[op])
  end
end)
