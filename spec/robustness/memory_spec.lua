-- Memory stays bounded without collectgarbage() in user code: the bindings
-- count the bytes live tensors hold and run the collector in proportion.
-- Each case runs in a child host process and reports its peak resident
-- memory (VmHWM) and its resident memory at points of the run.
local H = require "helpers"

local PRELUDE = [[
local mg = require "moongrad"
local function status_mb(field)
  for line in io.lines("/proc/self/status") do
    local kb = line:match("^" .. field .. ":%s+(%d+)")
    if kb then return tonumber(kb) / 1024 end
  end
end
]]

-- Runs a script in a child process; returns the numbers it prints as
-- "name=value" pairs.
local function child(body)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(PRELUDE, body)
  f:close()
  local env = ""
  if os.getenv("MOONGRAD_ASAN") then
    -- The sanitizer holds freed blocks in a quarantine (256 MB by default)
    -- to catch late uses; that memory is the tool's, so keep it small.
    local opts = os.getenv("ASAN_OPTIONS")
    env = "ASAN_OPTIONS='" .. (opts and opts .. ":" or "") .. "quarantine_size_mb=16' "
  end
  local out, code = H.run(env .. H.bin .. " " .. path)
  os.remove(path)
  assert(code == 0, "child script failed:\n" .. out)
  local r = {}
  for k, v in out:gmatch("(%w+)=([%d%.e%+%-]+)") do r[k] = tonumber(v) end
  return r, out
end

describe("memory", function()
  it("stays under 300 MB while a loop makes 20,000 tensors of 1 MB", function()
    local r, out = child([[
      for i = 1, 20000 do
        local t = mg.empty(256, 1024) -- 1 MB of float32
      end
      print("peak=" .. status_mb("VmHWM"))
    ]])
    assert.is_truthy(r.peak, out)
    assert.is_true(r.peak < 300, string.format("peak resident memory %.0f MB, expected < 300", r.peak))
  end)

  it("is bounded by the tensors' bytes, not by Lua's collector pace", function()
    -- The collector is stopped: only the bindings' accounting frees memory.
    local r, out = child([[
      collectgarbage("stop")
      local keep = mg.zeros(4096, 1024) -- 16 MB that stays live
      for i = 1, 3000 do local t = mg.ones(256, 1024) end
      print("peak=" .. status_mb("VmHWM"), "live=" .. mg.memory().live / 2^20)
    ]])
    assert.is_truthy(r.peak, out)
    assert.is_true(r.peak < 300, string.format("peak resident memory %.0f MB, expected < 300", r.peak))
    assert.is_true(r.live >= 16 and r.live < 200, "live tensor memory " .. r.live .. " MB")
  end)

  it("stays flat over a training loop of a small MLP", function()
    local r, out = child([[
      mg.manual_seed(1)
      local w1 = (mg.randn(128, 784) * 0.05):requires_grad_()
      local b1 = mg.zeros(128):requires_grad_()
      local w2 = (mg.randn(10, 128) * 0.05):requires_grad_()
      local b2 = mg.zeros(10):requires_grad_()
      local params = {w1, b1, w2, b2}
      local rss = {}
      for step = 1, 300 do
        local x = mg.rand(256, 784)              -- 0.8 MB of input per step
        local y = mg.randn(256, 10)
        local h = mg.linear(x, w1, b1):relu()
        local loss = ((mg.linear(h, w2, b2) - y) ^ 2):mean()
        for _, p in ipairs(params) do p.grad = nil end
        loss:backward()
        mg.no_grad(function()
          for _, p in ipairs(params) do p:sub_(p.grad * 0.01) end
        end)
        if step == 100 or step == 300 then rss[#rss + 1] = status_mb("VmRSS") end
      end
      print("early=" .. rss[1], "late=" .. rss[2], "peak=" .. status_mb("VmHWM"))
    ]])
    assert.is_truthy(r.late, out)
    -- 200 more steps made ~300 MB of garbage; the process must not grow by
    -- more than a fraction of that.
    assert.is_true(r.late - r.early < 40,
      string.format("resident memory grew from %.0f MB to %.0f MB", r.early, r.late))
    assert.is_true(r.peak < 300, string.format("peak resident memory %.0f MB", r.peak))
  end)
end)
