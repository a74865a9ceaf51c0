-- examples/autoencoder.lua runs end to end in a smoke mode (all three
-- models) and reports its figures.
local H = require "helpers"
local mg = H.mg

local function assert_png(path)
  local f = assert(io.open(path, "rb"), path)
  assert.are.equal("\137PNG\r\n\26\n", f:read(8))
  f:close()
end

describe("examples/autoencoder.lua", function()
  it("trains ae, denoise and vae, probes them and prints one JSON line", function()
    local dir = H.tmpdir()
    local r = H.run_example("autoencoder", "--limit 64 --test-limit 32 --epochs 1 --batch-size 32 " ..
      "--labels 20,all --probe-steps 5 --out " .. dir)
    assert.are.equal("autoencoder", r.example)
    assert.are.equal(64, r.train_images)
    assert.are.equal(32, r.test_images)
    for _, kind in ipairs({ "ae", "denoise", "vae" }) do
      local m = r.models[kind]
      assert.is_table(m, kind)
      assert.are.equal(1, m.epochs)
      assert.is_true(m.test_bce > 0 and m.test_bce < 2, kind)
      assert.are.equal(2, #m.probe)
      assert.are.same({ 20, 64 }, { m.probe[1].labels, m.probe[2].labels })
      for _, row in ipairs(m.probe) do assert.is_true(row.probe >= 0 and row.probe <= 1) end
    end
    assert.is_true(r.models.vae.test_kl >= 0)
    -- (the JSON line rounds each figure to 4 significant digits)
    H.assert_near(r.models.vae.test_loss, r.models.vae.test_bce_sum + r.models.vae.test_kl, 1e-3, 1e-3)
    assert.are.equal(2, #r.probe_pixels)
    local names = {}
    for _, png in ipairs(r.pictures) do
      assert_png(png)
      names[#names + 1] = png:match("[^/]+$")
    end
    table.sort(names)
    assert.are.same({ "loss_ae.png", "loss_denoise.png", "loss_vae.png", "recon_ae.png", "recon_denoise.png",
      "recon_vae.png", "vae_samples.png" }, names)
    local f = assert(io.open(dir .. "/metrics.jsonl"))
    local first = mg.json.decode(f:read("l"))
    f:close()
    assert.are.equal("ae", first.model)
  end)

  it("trains one model when asked", function()
    local dir = H.tmpdir()
    local r = H.run_example("autoencoder", "--model ae --no-probe --limit 32 --test-limit 16 --epochs 2 --out " .. dir)
    assert.are.equal(2, r.models.ae.epochs)
    assert.is_nil(r.models.vae)
    assert.is_nil(r.models.ae.probe)
  end)
end)
