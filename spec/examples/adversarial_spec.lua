-- Smoke run of examples/adversarial.lua: every method trains for one epoch
-- on 64 images, is attacked, and the JSON line and the pictures come out.
local H = require "helpers"

describe("examples/adversarial.lua", function()
  it("runs in smoke mode and prints its figures as the last line of JSON", function()
    local dir = H.tmpdir()
    local r, out = H.run_example("adversarial", "--limit 64 --epochs 1 --batch-size 32" ..
      " --eval-limit 8 --test-limit 32 --eval-steps 2 --restarts 2 --pgd-steps 1 --ga-steps 2 --threads 1" ..
      " --ens-steps 2 --ens-targets 2 --ens-queries 5 --out " .. dir)
    assert.are.equal("adversarial", r.example)
    assert.are.equal(64, r.train_images)
    assert.are.equal(8, r.eval_images)
    assert.are.same({ 0.1, 0.2, 0.3 }, r.eps)
    assert.are.equal(0.3, r.train_eps)
    local names = {}
    for i, m in ipairs(r.methods) do
      names[i] = m.method
      assert.is_true(m.test_acc >= 0 and m.test_acc <= 1)
      assert.are.equal(3, #m.fgsm)
      assert.are.equal(3, #m.pgd)
      for k = 1, 3 do
        assert.is_true(m.pgd[k] <= m.clean and m.fgsm[k] <= m.clean, m.method)
        assert.is_true(m.robust[k] <= math.min(m.pgd[k], m.fgsm[k]), m.method)
      end
      -- the ensemble at 0.3 on the same 8 images: PGD-40 from the main table
      local e = m.ensemble
      assert.are.equal(0.3, e.eps)
      assert.are.equal(8, e.images)
      assert.are.equal(m.pgd[3], e.pgd)
      assert.is_true(e.clean >= e.apgd_ce and e.apgd_ce >= e.apgd_t and e.apgd_t >= e.square, m.method)
      assert.are.equal(e.square, e.robust)
    end
    assert.are.same({ "normal", "seed", "fast", "pgd", "trades" }, names)
    local ga = r.methods[1].gradient_ascent
    assert.are.equal(2, ga.steps)
    assert.is_true(ga.accuracy >= 0 and ga.accuracy <= 1 and ga.mean_linf >= 0)
    assert.are.equal(6, #r.pictures)
    for _, p in ipairs(r.pictures) do assert.is_true(H.is_png(p), p) end
    assert.truthy(out:find("method%s+clean%s+FGSM 0.1"), "the table is missing")
    assert.truthy(out:find("method%s+clean%s+PGD%-2 0.3%s+APGD%-CE%s+%+APGD%-T%s+%+Square"),
      "the ensemble table is missing")

    -- the saved models attacked again without training: the same clean accuracy
    local dir2 = H.tmpdir()
    -- with the attack on training images beside the test images (--train-eval)
    local again, again_out = H.run_example("adversarial", "--load " .. dir .. " --methods pgd,trades --limit 64" ..
      " --eval-limit 8 --test-limit 32 --eval-steps 2 --ga-steps 0 --threads 1 --ens-steps 0 --train-eval 16" ..
      " --out " .. dir2)
    assert.are.equal(dir, again.loaded)
    assert.are.equal(2, #again.methods)
    assert.are.equal(r.methods[4].test_acc, again.methods[1].test_acc)
    assert.are.equal(r.methods[5].test_acc, again.methods[2].test_acc)
    assert.are.equal(0, again.methods[1].epochs)
    assert.is_nil(again.methods[1].ensemble)
    assert.is_nil(r.methods[1].train_attack)
    for _, m in ipairs(again.methods) do
      local t = m.train_attack
      assert.are.equal(16, t.images)
      assert.are.equal(0.3, t.eps)
      assert.is_true(t.pgd <= t.clean and t.clean <= 1, m.method)
    end
    assert.truthy(again_out:find("method%s+train clean%s+train PGD%s+test PGD"), "the train/test table is missing")
    os.execute("rm -rf '" .. dir .. "' '" .. dir2 .. "'")
  end)

  it("shifts the training images with --shift and rejects a negative shift", function()
    local dir = H.tmpdir()
    local r = H.run_example("adversarial", "--methods normal --limit 64 --epochs 1 --batch-size 32 --shift 2" ..
      " --eval-limit 8 --test-limit 32 --eval-steps 2 --ga-steps 0 --ens-steps 0 --threads 1 --out " .. dir)
    assert.are.equal(2, r.shift)
    assert.are.equal(1, r.methods[1].epochs)
    local out, code = H.run(H.bin .. " examples/adversarial.lua --shift -1 --out " .. dir)
    os.execute("rm -rf '" .. dir .. "'")
    assert.are_not.equal(0, code)
    assert.truthy(out:find("--shift: expected 0 to 27 pixels, got -1", 1, true), out)
  end)

  it("rejects an unknown method", function()
    local dir = H.tmpdir()
    local out, code = H.run(H.bin .. " examples/adversarial.lua --methods normal,free --out " .. dir)
    os.execute("rm -rf '" .. dir .. "'")
    assert.are_not.equal(0, code)
    assert.truthy(out:find("unknown method 'free'", 1, true), out)
  end)
end)
