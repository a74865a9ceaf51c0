-- mg.dist's collectives on 2 ranks under mpirun (one job runs them all:
-- scripts/collectives.lua), and the module in a plain process, where it
-- is a world of one without MPI.
local MPI = require "dist.mpi"

describe("dist collectives on 2 ranks", function()
  if not MPI.available then pending(MPI.why) return end
  local ranks, out, code

  setup(function() ranks, out, code = MPI.run("collectives.lua") end)

  local function each(fn)
    assert.are.equal(0, code, out)
    for rank = 1, 2 do
      assert.is_table(ranks[rank], "no result from rank " .. rank .. ":\n" .. out)
      fn(ranks[rank], rank)
    end
  end

  it("count ranks from 1", function()
    each(function(r, rank)
      assert.are.equal(rank, r.rank)
      assert.are.equal(rank, r.fn_rank)
      assert.are.equal(2, r.world)
      assert.are.same({ rank, 2 }, r.again) -- init twice: the same world
      assert.is_false(r.before)
      assert.is_true(r.after)
      assert.are.equal("mpi", r.backend)
      assert.are.equal(rank, r.local_rank)
      assert.are.equal(2, r.local_size)
    end)
  end)

  it("reduce tensors in place (sum, mean, max, min; float32, int64, uint8)", function()
    each(function(r)
      assert.are.same({ 3, 6, 9 }, r.sum)
      assert.are.same({ 1.5, 3, 4.5 }, r.mean)
      assert.are.same({ 2, 4, 6 }, r.max)
      assert.are.same({ 1, 2, 3 }, r.min)
      assert.are.same({ 3, 30 }, r.i64)
      assert.are.same({ 2, 7 }, r.u8max)
    end)
  end)

  it("reduce a list of tensors as one, writing strided views back in place", function()
    each(function(r)
      assert.is_true(r.list_same)
      assert.are.same({ { 3, 3 }, { 3, 3 } }, r.list[1])
      assert.are.same({ { 0, 9 }, { 3, 12 }, { 6, 15 } }, r.list[2])
      for _, row in ipairs(r.narrow) do assert.are.same({ 0, 3, 3, 3, 0 }, row) end
    end)
  end)

  it("reduce numbers, keeping integers integers", function()
    each(function(r)
      assert.are.equal(3, r.num_sum)
      assert.are.equal("integer", r.num_sum_type)
      assert.are.equal(1.5, r.num_mean)
      assert.are.same({ 2, 1 }, r.num_list)
    end)
  end)

  it("broadcast tensors, lists and values from the root", function()
    each(function(r)
      assert.are.same({ 2, 2, 2 }, r.bcast_last)
      assert.are.same({ { 1, 1 }, { { 10, 10 } } }, r.bcast_list)
      assert.are.equal("from the root", r.bcast_string)
      assert.are.equal(42, r.bcast_int)
      assert.are.equal(0.1, r.bcast_float)
      assert.is_true(r.bcast_bool)
      assert.is_true(r.bcast_nil)
    end)
  end)

  it("gather tensors along a new first dim, and numbers into a list", function()
    each(function(r)
      assert.are.same({ 2, 1, 2 }, r.gather_shape)
      assert.are.same({ { { 1, -1 } }, { { 2, -2 } } }, r.gather)
      assert.are.same({ 1.5, 3.0 }, r.gather_num)
    end)
  end)

  it("raise the same error on every rank when the ranks disagree", function()
    each(function(r)
      assert.are.equal("dist.all_reduce: the ranks disagree: rank 2 passes a float32 Tensor of 3 values, "
        .. "rank 1 passes a float32 Tensor of 2 values", r.disagree)
      assert.are.equal("dist.all_gather: the ranks disagree: rank 2 passes a float32 Tensor [2, 2], "
        .. "rank 1 passes a float32 Tensor [1, 2]", r.gather_disagree)
      assert.are.equal("dist.broadcast: root must be a rank in 1..2, got 3", r.bad_root)
    end)
  end)

  it("mark in-place results for autograd", function()
    each(function(r) assert.truthy(r.autograd:find("modified in place", 1, true), r.autograd) end)
  end)
end)

describe("dist in a plain process", function()
  if not MPI.available then pending(MPI.why) return end

  it("costs nothing to a script that does not ask for it: MPI is not linked or loaded", function()
    local out, err, code = MPI.run_alone([[
      local mg = require "moongrad"
      local m = mg.nn.Linear(2, 1)
      local ds = mg.data.TensorDataset { images = mg.randn(8, 2), labels = mg.randn(8, 1) }
      local opt = mg.optim.SGD(m:parameters(), { lr = 0.1 })
      mg.train.Trainer { model = m, optimizer = opt, progress = false }:run(mg.data.DataLoader(ds, { batch_size = 4 }),
        function(b, ctx) ctx:optimize(mg.mse_loss(m(b.images), b.labels)) end)
      local maps = io.open("/proc/self/maps"):read("a")
      print(package.loaded["moongrad.dist"] == nil, maps:find("libmpi", 1, true) == nil)]])
    assert.are.equal(0, code, err)
    assert.are.equal("true\ttrue\n", out)
  end)

  it("is a world of one without MPI, where collectives keep values", function()
    local out, err, code = MPI.run_alone([[
      local mg = require "moongrad"
      local d = mg.dist
      print(d.is_initialized(), d.init())
      print(d.backend(), d.rank(), d.world_size(), d.local_rank(), d.local_size())
      local t = mg.tensor { 1, 2, 3 }
      d.all_reduce(t, { op = "mean" }); d.broadcast(t); d.barrier()
      print(table.concat(t:totable(), ","), table.concat(d.all_gather(t):shape(), ","), d.all_reduce(2.5))]])
    assert.are.equal(0, code, err)
    assert.are.equal("false\t1\t1\nnone\t1\t1\t1\t1\n1,2,3\t1,3\t2.5\n", out)
  end)

  it("refuses a launcher whose ranks Open MPI cannot join", function()
    local _, err, code = MPI.run_alone("require('moongrad').dist.init()", "env PMI_SIZE=4 PMI_RANK=2")
    assert.are_not.equal(0, code)
    assert.truthy(err:find("started by an MPICH-family launcher", 1, true), err)
    assert.truthy(err:find("PMI_SIZE=4", 1, true), err)
    assert.truthy(err:find("each would run alone as world size 1", 1, true), err)
    assert.truthy(err:find("mpirun -np N", 1, true), err)
    _, err, code = MPI.run_alone("require('moongrad').dist.init()", "env SLURM_STEP_NUM_TASKS=2 SLURM_PROCID=0")
    assert.are_not.equal(0, code)
    assert.truthy(err:find("Slurm's srun without an MPI plugin", 1, true), err)
    -- a batch script's own shell (a step of one task) is a plain run
    local out
    out, err, code = MPI.run_alone("print(require('moongrad').dist.init())", "env SLURM_STEP_NUM_TASKS=1")
    assert.are.equal(0, code, err)
    assert.are.equal("1\t1\n", out)
  end)

  it("raises clear errors for bad arguments", function()
    local out, err, code = MPI.run_alone([[
      local mg = require "moongrad"
      local d = mg.dist
      local function e(f, ...) local ok, m = pcall(f, ...); print(ok and "no error" or m) end
      e(d.rank)
      e(d.all_reduce, mg.ones(2))
      e(d.init, { timeout = -1 })
      e(d.init, { wait = 1 })
      d.init()
      e(d.all_reduce, mg.ones(2), { op = "prod" })
      e(d.all_reduce, mg.ones(2, { dtype = "int64" }), { op = "mean" })
      e(d.all_reduce, { mg.ones(2), mg.ones(2, { dtype = "int64" }) })
      e(d.all_reduce, { mg.ones(2), 3 })
      e(d.all_reduce, {})
      e(d.all_reduce, "x")
      e(d.broadcast, mg.ones(2), { root = 0 })
      e(d.broadcast, mg.ones(2), { root = 1.5 })
      e(d.broadcast, print)
      e(d.all_gather, "x")
      e(d.abort, 300)]])
    assert.are.equal(0, code, err)
    local want = {
      "dist.rank: call mg.dist.init() first",
      "dist.all_reduce: call mg.dist.init() first",
      "dist.init: timeout must be a number of seconds >= 0 (0: no limit), got -1",
      "dist.init: unknown option 'wait' (expected one of timeout)",
      'dist.all_reduce: op must be "sum", "mean", "max" or "min", got "prod"',
      'dist.all_reduce: op "mean" needs float32 Tensors, got int64',
      "dist.all_reduce: the list mixes dtypes (item 1 is float32, item 2 is int64)",
      "dist.all_reduce: item 2 of the list is not a Tensor",
      "dist.all_reduce: expected a Tensor, a list of Tensors, a number or a list of numbers, got an empty table",
      "dist.all_reduce: expected a Tensor, a list of Tensors, a number or a list of numbers, got string",
      "dist.broadcast: root must be a rank in 1..1, got 0",
      "dist.broadcast: root must be an integer rank, got 1.5",
      "dist.broadcast: expected a Tensor, a list of Tensors, a number, a string, a boolean or nil, got function",
      "dist.all_gather: expected a Tensor or a number, got string",
      "dist.abort: code must be in 0..255, got 300",
    }
    local got = {}
    for line in out:gmatch("[^\n]+") do got[#got + 1] = (line:gsub("^%(command line%):%d+: ", "")) end
    assert.are.same(want, got)
  end)
end)
