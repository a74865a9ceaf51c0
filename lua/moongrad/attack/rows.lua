-- Row bookkeeping for attacks that work on a shrinking subset of a batch
-- (the images not fooled yet).
local mg = require "moongrad"

local M = {}

--- put(full, sub, rows, n) -> a new tensor: the rows of `sub` at the
-- positions listed in `rows` (a Lua list of 1-based indices into the n
-- rows of `full`, one per row of sub), the rows of `full` elsewhere.
function M.put(full, sub, rows, n)
  local map, on = {}, {}
  for i = 1, n do map[i], on[i] = 1, 0 end
  for j, i in ipairs(rows) do map[i], on[i] = j, 1 end
  local taken = sub:index_select(1, mg.tensor(map, { dtype = "int64" }))
  local shape = { n }
  for _ = 2, full:dim() do shape[#shape + 1] = 1 end
  return mg.where(mg.tensor(on):reshape(shape), taken, full)
end

--- where_on(mask) -> Lua list of the 1-based positions where a 0/1
-- tensor [n] is nonzero.
function M.where_on(mask)
  local out = {}
  for i, v in ipairs(mask:totable()) do if v ~= 0 then out[#out + 1] = i end end
  return out
end

return M
