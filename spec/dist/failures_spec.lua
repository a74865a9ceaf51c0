-- Failures end a distributed job, they never hang it: each case runs 2
-- ranks (scripts/failures.lua) where rank 2 fails while rank 1 waits in a
-- collective, and the job must end with a non-zero status well within 30
-- seconds (mpirun itself is killed at 60).
local MPI = require "dist.mpi"

describe("a distributed job", function()
  if not MPI.available then pending(MPI.why) return end

  local function ends(mode, env)
    local ranks, out, code, seconds = MPI.run("failures.lua", { args = mode, env = env })
    assert.are_not.equal(0, code, out)
    assert.are_not.equal(124, code, "the job hung until the test killed it:\n" .. out)
    assert.is_nil(ranks[1], "rank 1 went on past the failure:\n" .. out)
    assert.is_true(seconds < 30, string.format("the job took %.1f s to end:\n%s", seconds, out))
    return out
  end

  it("ends when a rank's script raises an error (MPI_Abort, not a hang in MPI_Finalize)", function()
    local out = ends("error")
    assert.truthy(out:find("rank 2 fails on purpose", 1, true), out)
    assert.truthy(out:find("moongrad.dist: rank 2/2: the script ended with status 1: ending the other ranks too", 1,
      true), out)
  end)

  it("ends when a rank is killed with kill -9", function()
    ends("kill")
  end)

  it("ends when a rank stops answering, naming the rank and the operation", function()
    local out = ends("stuck", "MOONGRAD_DIST_TIMEOUT=1")
    assert.truthy(out:find("moongrad.dist: rank 1/2: all_reduce %(call %d+%) timed out after 1 s "
      .. "%(MOONGRAD_DIST_TIMEOUT%): rank 2 does not answer %(stopped, or busy outside a collective%)"), out)
  end)
end)
