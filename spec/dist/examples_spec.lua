-- Every example takes --dist (a shared option of mg.cli): the rotation
-- example on 2 ranks as the README shows it, and --dist without a launcher.
local H = require "helpers"
local MPI = require "dist.mpi"
local mg = H.mg

describe("examples with --dist", function()
  if not MPI.available then pending(MPI.why) return end

  it("run on 2 ranks: rank 1 prints and writes, rank 2 stays quiet", function()
    local dir = H.tmpdir()
    local out, code = H.run(string.format("env %s MOONGRAD_DATA=%s timeout -s KILL 120 mpirun -np 2 %s "
      .. "examples/rotnet.lua --dist --limit 128 --test-limit 64 --epochs 1 --labels 20 --eval-steps 5 --out %s",
      MPI.env, mg.data.data_dir(), H.bin, dir))
    assert.are.equal(0, code, out)
    assert.truthy(out:find("--dist: rank 1 of 2, 1 thread per rank", 1, true), out)
    local results = 0
    for line in out:gmatch("[^\n]+") do
      if line:find('^{.*"example":"rotnet"') then
        results = results + 1
        assert.are.equal(128, mg.json.decode(line).train_images)
      end
    end
    assert.are.equal(1, results, out)
    assert.is_true(H.is_png(dir .. "/rotations.png"))
    assert.falsy(out:find("differ at the end", 1, true), out)
    os.execute("rm -rf " .. H.shell_quote(dir))
  end)

  it("run alone without a launcher, saying so", function()
    local dir = H.tmpdir()
    local out, err, code = MPI.run_alone(string.format([[
      local mg = require "moongrad"
      local o = mg.cli.parse({ "--dist", "--out", %q }, mg.cli.common("x", "test"))
      mg.cli.start(o)
      print(o.rank, o.world_size, mg.train.Trainer{}.world_size)]], dir))
    assert.are.equal(0, code, err)
    assert.are.equal("1\t1\t1\n", out)
    assert.truthy(err:find("--dist: no MPI launcher: running alone as rank 1 of 1", 1, true), err)
    os.execute("rm -rf " .. H.shell_quote(dir))
  end)
end)
