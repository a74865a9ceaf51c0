-- examples/contrastive.lua runs end to end in a smoke mode (bundled sample,
-- a few images, one epoch) for each method and reports its figures.
local H = require "helpers"

describe("examples/contrastive.lua", function()
  for _, method in ipairs({ "simclr", "barlow", "byol" }) do
    it(method .. ": pre-trains, monitors, evaluates and prints one JSON line", function()
      local dir = H.tmpdir()
      local r = H.run_example("contrastive", "--method " .. method .. " --data mnist --limit 64 --test-limit 64"
        .. " --batch-size 32 --epochs 1 --labels 20 --eval-steps 5 --knn-bank 64 --knn-queries 32 --hidden 32"
        .. " --proj-dim 16 --threads 1 --out " .. dir)
      assert.are.equal("contrastive", r.example)
      assert.are.equal(method, r.method)
      assert.are.equal(64, r.train_images)
      assert.are.equal(2, #r.knn_acc) -- before pre-training and after the epoch
      for _, a in ipairs(r.knn_acc) do assert.is_true(a >= 0 and a <= 1) end
      assert.is_true(r.final_loss == r.final_loss and r.final_loss < math.huge)
      assert.is_true(r.augment_fraction > 0 and r.augment_fraction < 1)
      assert.are.equal(1, #r.evaluation)
      for _, k in ipairs({ "probe", "fine_tune", "scratch" }) do
        assert.is_true(r.evaluation[1][k] >= 0 and r.evaluation[1][k] <= 1, k)
      end
      assert.are.equal(3, #r.pictures)
      for _, png in ipairs(r.pictures) do assert.is_true(H.is_png(png), png) end
      os.execute("rm -rf " .. H.shell_quote(dir))
    end)
  end
end)
