-- Data-parallel training through the engine on 2 ranks
-- (scripts/training.lua): the same steps as one process with the whole
-- batch, ranks that stay bitwise equal, the loader's shards, and files
-- written by rank 1 only.
local H = require "helpers"
local MPI = require "dist.mpi"
local mg = H.mg

local function params(dir, rank) return mg.load(string.format("%s/params_%d.safetensors", dir, rank)) end

local function largest_difference(a, b)
  local worst = 0
  for name, t in pairs(a) do
    assert(b[name], "no " .. name .. " in the other set")
    worst = math.max(worst, (t:float() - b[name]:float()):abs():max():item())
  end
  return worst
end

describe("data-parallel training", function()
  if not MPI.available then pending(MPI.why) return end

  it("takes the steps of one process with the whole batch (2 x 64 = 1 x 128, 5 SGD steps)", function()
    local dir = H.tmpdir()
    local env = "MG_DIST_DIR=" .. dir
    local ranks, out, code = MPI.run("training.lua",
      { args = "sgd --dist --batch 64 --epochs 2 --max-steps 5", env = env })
    assert.are.equal(0, code, out)
    assert.are.equal(5, ranks[1].step)
    local two = { params(dir, 1), params(dir, 2) }
    local _, alone_out, alone_code = MPI.run("training.lua",
      { alone = true, args = "sgd --batch 128 --epochs 2 --max-steps 5", env = env })
    assert.are.equal(0, alone_code, alone_out)
    local one = params(dir, 1)
    local gap = largest_difference(two[1], one)
    assert.is_true(gap <= 1e-5, "2 ranks and 1 process differ by " .. gap)
    assert.are.equal(0, largest_difference(two[1], two[2]))
    -- for scale: 4 steps instead of 5 end far from there
    local _, o, c = MPI.run("training.lua", { alone = true, args = "sgd --batch 128 --max-steps 4", env = env })
    assert.are.equal(0, c, o)
    assert.is_true(largest_difference(params(dir, 1), one) > 1e-3)
    os.execute("rm -rf " .. H.shell_quote(dir))
  end)

  describe("over two epochs with checkpoints", function()
    local dir, ranks, out, code
    setup(function()
      dir = H.tmpdir()
      ranks, out, code = MPI.run("training.lua",
        { args = "epochs --dist --batch 32 --epochs 2", env = "MG_DIST_DIR=" .. dir })
    end)
    teardown(function() os.execute("rm -rf " .. H.shell_quote(dir)) end)

    it("keeps the ranks' parameters and BatchNorm statistics bitwise equal", function()
      assert.are.equal(0, code, out)
      assert.are.equal(16, ranks[1].step)
      assert.are.equal(0, largest_difference(params(dir, 1), params(dir, 2)))
    end)

    it("gives each rank its shard: disjoint, together the whole epoch, as many batches each", function()
      assert.are.equal(0, code, out)
      assert.are.equal(8, ranks[1].batches)
      assert.are.equal(8, ranks[2].batches)
      for epoch = 0, 1 do
        local all = {}
        for r = 1, 2 do
          for k = epoch * 256 + 1, (epoch + 1) * 256 do
            local idx = ranks[r].seen[k]
            assert.is_nil(all[idx], "sample " .. tostring(idx) .. " seen twice in epoch " .. (epoch + 1))
            all[idx] = r
          end
        end
        for idx = 1, 512 do assert.is_not_nil(all[idx], "sample " .. idx .. " never seen in epoch " .. (epoch + 1)) end
      end
      -- the order of epoch 2 is not that of epoch 1
      assert.are_not.same({ table.unpack(ranks[1].seen, 1, 32) }, { table.unpack(ranks[1].seen, 257, 288) })
    end)

    it("records the whole job's epoch on every rank, and writes files and progress on rank 1 only", function()
      assert.are.equal(0, code, out)
      for r = 1, 2 do
        assert.are.equal(2, #ranks[r].history)
        -- the mean sample index over all ranks' samples
        assert.are.equal(256.5, ranks[r].history[1].index)
        assert.are.equal(ranks[1].history[2].loss, ranks[r].history[2].loss)
      end
      assert.is_true(ranks[1].is_main)
      assert.is_false(ranks[2].is_main)
      local f = io.open(dir .. "/out_1/metrics.jsonl")
      assert.is_not_nil(f, "rank 1 wrote no metrics")
      local lines = 0
      for _ in f:lines() do lines = lines + 1 end
      f:close()
      assert.are.equal(2, lines)
      assert.is_true(mg.train.checkpoint.exists(dir .. "/out_1/checkpoint"))
      assert.is_nil(io.open(dir .. "/out_2/metrics.jsonl"), "rank 2 wrote metrics")
      assert.is_false(mg.train.checkpoint.exists(dir .. "/out_2/checkpoint"), "rank 2 wrote a checkpoint")
      assert.truthy(out:find("rank 1 2/2", 1, true), out)
      assert.falsy(out:find("rank 2 %d/2"), "rank 2 showed progress:\n" .. out)
    end)

    it("resumes a checkpoint taken mid-epoch on 2 ranks bit for bit", function()
      assert.are.equal(0, code, out)
      -- stopped at a periodic checkpoint (every 3 steps), as a job that
      -- died after it: the run goes on from there as if never stopped
      local again = H.tmpdir()
      local env = "MG_DIST_DIR=" .. again
      local r, o, c = MPI.run("training.lua",
        { args = "epochs --dist --batch 32 --epochs 2 --max-steps 12", env = env })
      assert.are.equal(0, c, o)
      assert.are.equal(12, r[1].step)
      -- one process cannot continue an epoch sharded for two
      local _, e = MPI.run("training.lua", { alone = true, args = "epochs --batch 32 --epochs 3 --resume", env = env })
      assert.truthy(e:find("the checkpoint was taken in the middle of an epoch by a run of 2 ranks; "
        .. "resume it on 2 ranks", 1, true), e)
      r, o, c = MPI.run("training.lua", { args = "epochs --dist --batch 32 --epochs 2 --resume", env = env })
      assert.are.equal(0, c, o)
      assert.truthy(o:find("resuming from .* %(epoch 2, step 12%) mid%-epoch on 2 ranks"), o)
      assert.are.equal(16, r[1].step)
      assert.are.equal(0, largest_difference(params(again, 1), params(dir, 1)))
      assert.are.equal(0, largest_difference(params(again, 2), params(dir, 1)))
      os.execute("rm -rf " .. H.shell_quote(again))
    end)

    it("resumes an end-of-epoch checkpoint in one process on one thread with the ranks' state", function()
      assert.are.equal(0, code, out)
      local copy = H.tmpdir()
      assert(os.execute(string.format("cp -r %s/out_1 %s/out_1", H.shell_quote(dir), H.shell_quote(copy))))
      local r, o, c = MPI.run("training.lua", { alone = true, args = "epochs --batch 32 --epochs 3 --resume",
        env = "MG_DIST_DIR=" .. copy })
      assert.are.equal(0, c, o)
      assert.truthy(o:find("resuming from .* %(epoch 2, step 16%)"), o)
      assert.are.equal(0, largest_difference(mg.load(copy .. "/loaded_1.safetensors"), params(dir, 2)))
      assert.are.equal(16 + 16, r[1].step) -- epoch 3 alone: 512 / 32 steps
      assert.are.equal(3, #r[1].history)
      os.execute("rm -rf " .. H.shell_quote(copy))
    end)
  end)
end)
