-- Bad arguments never crash the process: every function of moongrad.core,
-- every Tensor method and metamethod and the module's Lua functions are
-- called many times with random bad arguments (nil, booleans, strings,
-- huge, negative, non-integer and NaN numbers, empty, nested and junk
-- tables, tensors of the wrong dtype, shape or ndim, 0-dim, empty, 8-dim
-- and closed tensors, functions, other userdata). Each call must return or
-- raise a string error. The functions are enumerated at run time, so new
-- ones are covered without listing them. The calls run in a child process
-- (fuzz_child.lua) started in a scratch folder; the seed is fixed, the time
-- bounded (MG_FUZZ_SEED and MG_FUZZ_SECONDS override them).
local H = require "helpers"
local mg = H.mg

local SEED = tonumber(os.getenv("MG_FUZZ_SEED")) or 20250101
local SECONDS = tonumber(os.getenv("MG_FUZZ_SECONDS")) or 3

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Names the child must reach: functions of the core module, of the
-- methods table, of the Tensor metatable and of the moongrad module.
local function expected_names()
  local core = require "moongrad.core"
  local names, seen = {}, {}
  for k, v in pairs(core) do
    if type(v) == "function" then names["core." .. k] = true; seen[v] = true end
  end
  for k, v in pairs(core.methods) do if type(v) == "function" then names["method." .. k] = true end end
  for k, v in pairs(getmetatable(mg.ones(1))) do if type(v) == "function" then names["meta." .. k] = true end end
  for k, v in pairs(mg) do
    if type(v) == "function" and not seen[v] then names["mg." .. k] = true end
  end
  if package.searchpath("moongrad.dist", package.cpath) then
    for k in pairs(require "moongrad.dist") do names["dist." .. k] = true end
  end
  for p, t in pairs({ attack = mg.attack, ["attack.losses"] = mg.attack.losses,
    ["attack.embedding"] = mg.attack.embedding,
    ["attack.synonym"] = mg.attack.synonym }) do
    for k, v in pairs(t) do if type(v) == "function" then names["mg." .. p .. "." .. k] = true end end
  end
  return names
end

describe("bad arguments", function()
  local out, code

  setup(function()
    local cwd = io.popen("pwd"):read("l")
    local scratch = os.tmpname()
    os.remove(scratch)
    assert(os.execute("mkdir -p " .. q(scratch)))
    -- Requests of several GB must fail cleanly rather than be served: the
    -- address space is capped at 4 GB (under the sanitizer, whose shadow
    -- memory needs a large address space, its allocator is told to return
    -- NULL above 2 GB instead).
    local limit = "ulimit -v 4000000; "
    if os.getenv("MOONGRAD_ASAN") then
      local opts = os.getenv("ASAN_OPTIONS")
      limit = "ASAN_OPTIONS=" .. q((opts and opts .. ":" or "")
        .. "allocator_may_return_null=1:max_allocation_size_mb=2000") .. " "
    end
    local cmd = "cd " .. q(scratch) .. " && " .. limit .. "timeout 300 " .. q(H.bin) .. " "
      .. q(cwd .. "/spec/robustness/fuzz_child.lua") .. " " .. SEED .. " " .. SECONDS .. " " .. q(scratch)
    out, code = H.run(cmd)
    os.execute("rm -rf " .. q(scratch))
  end)

  it("never crash the process", function()
    local last = "(none)"
    for name in out:gmatch("fn ([^\n]+)") do last = name end
    if code ~= 0 or not out:find("\ndone ") then
      error(string.format("the fuzzing process ended with status %s during %s (seed %d); to see each call:\n"
        .. "  cd $(mktemp -d) && MG_FUZZ_VERBOSE=1 %s %s/spec/robustness/fuzz_child.lua %d %g . %s\n"
        .. "Output tail:\n%s", tostring(code), last, SEED, H.bin, io.popen("pwd"):read("l"), SEED, SECONDS, last,
        out:sub(-3000)), 0)
    end
  end)

  it("raise only string errors", function()
    local bad = {}
    for line in out:gmatch("bad ([^\n]+)") do bad[#bad + 1] = line end
    assert.are.same({}, bad)
  end)

  it("reach every exported function", function()
    local reached = {}
    for name in out:gmatch("fn ([^\n]+)") do reached[name] = true end
    for name in out:gmatch("skip ([^:\n]+)") do reached[name] = true end
    local missing = {}
    for name in pairs(expected_names()) do
      if not reached[name] then missing[#missing + 1] = name end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("make many calls and see errors raised", function()
    local calls, raised = out:match("calls=(%d+) raised=(%d+)")
    assert.is_truthy(calls, out:sub(-500))
    assert.is_true(tonumber(calls) >= 1000, "only " .. calls .. " calls")
    assert.is_true(tonumber(raised) > 0 and tonumber(raised) < tonumber(calls))
  end)
end)
