-- Runtime settings of the module: thread count, seed and RNG state, memory
-- statistics, the cache, and the wall clock.
local H = require "helpers"
local mg = H.mg

describe("runtime", function()
  local threads
  before_each(function() threads = mg.get_num_threads() end)
  after_each(function() mg.set_num_threads(threads, { adapt = os.getenv("MG_THREAD_ADAPT") ~= "0" }) end)

  it("sets and reads the thread count", function()
    mg.set_num_threads(1)
    assert.are.equal(1, mg.get_num_threads())
    mg.set_num_threads(2)
    assert.are.equal(2, mg.get_num_threads())
  end)

  it("keeps the count asked for with adapt = false, and says how many are in use", function()
    mg.set_num_threads(2, { adapt = false })
    for _ = 1, 20 do mg.randn(1000):exp() end
    local asked, active = mg.get_num_threads()
    assert.are.same({ 2, 2 }, { asked, active })
    H.assert_error(function() mg.set_num_threads(2, { adapt = 1 }) end, "set_num_threads: option 'adapt'")
    H.assert_error(function() mg.set_num_threads(2, { adpat = true }) end, "set_num_threads: unknown option 'adpat'")
  end)

  it("uses the cores other processes leave free when it may adapt", function()
    local p = io.popen("nproc")
    local cores = tonumber(p:read("l"))
    p:close()
    if cores ~= 2 then return end -- one busy process takes a core only on two
    -- another process keeps a core busy for a second and a half
    os.execute("lua5.4 -e 'local t = os.clock() while os.clock() - t < 1.5 do end' &")
    mg.set_num_threads(2, { adapt = true })
    local t0 = mg.clock()
    while mg.clock() - t0 < 0.5 do mg.randn(20000):exp() end -- tensors made: the load is looked at
    local asked, active = mg.get_num_threads()
    mg.set_num_threads(threads, { adapt = false })
    assert.are.same({ 2, 1 }, { asked, active })
  end)

  it("refuses a thread count out of range", function()
    H.assert_error(function() mg.set_num_threads(0) end, "set_num_threads", "1..256", "0")
    H.assert_error(function() mg.set_num_threads(1000) end, "set_num_threads", "1000")
    H.assert_error(function() mg.set_num_threads(1.5) end, "set_num_threads", "integer")
    H.assert_error(function() mg.set_num_threads("two") end, "set_num_threads", "integer")
  end)

  it("repeats random numbers after manual_seed", function()
    mg.manual_seed(42)
    local a = mg.randn(5):totable()
    mg.manual_seed(42)
    assert.are.same(a, mg.randn(5):totable())
    mg.manual_seed(43)
    assert.are_not.same(a, mg.randn(5):totable())
  end)

  it("saves and restores the RNG state", function()
    mg.manual_seed(7)
    mg.rand(3)
    local state = mg.get_rng_state()
    assert.are.equal(7, state.seed)
    assert.is_true(state.counter > 0)
    local a = mg.rand(4):totable()
    mg.set_rng_state(state)
    assert.are.same(a, mg.rand(4):totable())
    H.assert_error(function() mg.set_rng_state({ seed = 1 }) end, "set_rng_state", "counter")
  end)

  it("counts the bytes that live tensors hold", function()
    collectgarbage()
    local before = mg.memory().live
    local t = mg.zeros(1024, 256) -- luacheck: ignore 231 (1 MB held, then dropped)
    assert.is_true(mg.memory().live - before >= 1024 * 1024)
    t = nil
    collectgarbage()
    collectgarbage()
    assert.is_true(mg.memory().live - before < 1024 * 1024)
  end)

  it("empties the cache of freed buffers", function()
    local t = mg.zeros(1024, 256) -- luacheck: ignore 231 (held, then dropped)
    t = nil
    collectgarbage()
    collectgarbage()
    mg.empty_cache()
    assert.are.equal(0, mg.memory().cached)
  end)

  it("gives a monotonic wall clock in seconds", function()
    local t0 = mg.clock()
    os.execute("sleep 0.05")
    local dt = mg.clock() - t0
    assert.is_true(dt >= 0.04 and dt < 5, "elapsed " .. dt)
  end)

  it("names its version", function()
    assert.is_truthy(mg.version:match("^%d+%.%d+%.%d+$"))
  end)
end)
