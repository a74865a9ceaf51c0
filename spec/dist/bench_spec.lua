-- The data-parallel benchmark (bench/dist, part of make bench) runs and
-- reports its figures; their values are not checked (timings are not tests).
local H = require "helpers"
local MPI = require "dist.mpi"
local mg = H.mg

describe("bench/dist", function()
  if not MPI.available then pending(MPI.why) return end

  it("compares 2 ranks with 2 threads and times the all-reduce", function()
    local path = os.tmpname()
    local out, code = H.run(string.format("env %s %s bench/dist/run.lua --quick --json %s", MPI.env, H.bin, path))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("2 ranks x 1 thread", 1, true), out)
    assert.truthy(out:find("gradient all-reduce (0.92 MB, one message per step)", 1, true), out)
    local f = assert(io.open(path))
    local r = mg.json.decode(f:read("a"))
    f:close()
    os.remove(path)
    local r2 = r.ranks2
    for _, v in ipairs({ r.single.images_per_s, r2.images_per_s, r2.allreduce_ms, r2.allreduce_alone_ms, r.ratio }) do
      assert.is_true(v > 0)
    end
    assert.are.equal(0.85, r.target)
  end)
end)
