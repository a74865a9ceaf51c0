-- The side-by-side benchmark suite (bench/): the analytic FLOP counts
-- against hand computations, and a smoke run of the driver on one small
-- workload without PyTorch, checking the shape of its JSON file (no
-- timing is asserted).
local H = require "helpers"
local mg = H.mg

describe("bench/flops.lua", function()
  local flops = dofile("bench/flops.lua")

  it("counts the seed CNN's multiply-adds per image", function()
    -- conv 1->32 at 26x26, 32->64 at 11x11, 64->128 at 3x3, 1152->128, 128->10
    local macs = 1 * 32 * 9 * 676 + 32 * 64 * 9 * 121 + 64 * 128 * 9 * 9 + 1152 * 128 + 128 * 10
    assert.are.equal(3237248, macs)
    assert.are.equal(2 * 128 * macs, flops.forward(flops.nets.seed_cnn10, 128))
  end)

  it("counts a training step: forward, weight gradients, input gradients past the first layer", function()
    -- 2 * B * (2 * all + all but conv1)
    assert.are.equal(2 * 128 * (2 * 3237248 + (3237248 - 194688)), flops.per_step.classifier)
    -- autoencoder 784-32-784 at batch 256
    assert.are.equal(2 * 256 * (2 * 50176 + 25088), flops.per_step.ae)
  end)

  it("counts attacks as forward plus input gradients of every layer", function()
    assert.are.equal(2 * 128 * 2 * 3237248, flops.per_step.fgsm)
    assert.are.equal(10 * 2 * 128 * 2 * 3237248 + 2 * 128 * 3237248, flops.per_step.pgd)
  end)

  it("counts a GAN step: G forward, D on two batches, G through the frozen D", function()
    local g, d = 100 * 128 + 128 * 784, 784 * 128 + 128
    local b = 128
    local expected = 2 * b * g                      -- fake batch, no graph
      + 2 * (2 * b * (2 * d + 128))                 -- D trained on real and on fake
      + 2 * b * (2 * g + 128 * 784)                 -- G trained
      + 2 * b * 2 * d                               -- through D: forward and input gradients
    assert.are.equal(expected, flops.per_step.gan_mlp)
  end)

  it("counts the Transformer: projections, attention products, feed-forward, head", function()
    -- per sequence of 256 tokens, d 128, ff 512, 4 layers, 2 classes
    local layer = 256 * 128 * 384 + 2 * 256 * 256 * 128 + 256 * 128 * 128 + 256 * (128 * 512 * 2)
    local total = 4 * layer + 128 * 2
    assert.are.equal(2 * 32 * total, flops.per_step.transformer_infer)
    -- the embeddings train, so every layer's input gradient counts: 3x forward
    assert.are.equal(3 * 2 * 32 * total, flops.per_step.transformer)
  end)

  it("has a count for every workload script", function()
    for name in pairs(flops.per_step) do
      local f = io.open("bench/workloads/" .. name .. ".lua", "r")
      assert.is_truthy(f, "bench/workloads/" .. name .. ".lua")
      f:close()
      f = io.open("bench/torch/" .. name .. ".py", "r")
      assert.is_truthy(f, "bench/torch/" .. name .. ".py")
      f:close()
    end
  end)
end)

describe("bench/run.lua", function()
  it("runs a quick moongrad-only pass and writes the JSON file", function()
    local path = os.tmpname()
    local out, code = H.run(H.bin .. " bench/run.lua --quick --workloads ae --no-torch --json " .. path)
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("PyTorch columns skipped", 1, true), out)
    assert.is_truthy(out:find("targets:", 1, true), out)
    local f = assert(io.open(path, "r"))
    local doc = mg.json.decode(f:read("a"))
    f:close()
    os.remove(path)

    assert.are.equal(false, doc.torch.available)
    assert.is_truthy(doc.torch.reason:find("--no-torch", 1, true))
    assert.are.same({ 1 }, doc.config.threads)
    assert.are.equal(1, #doc.workloads)
    local w = doc.workloads[1]
    assert.are.equal("ae", w.workload)
    assert.are.equal(1, w.threads)
    assert.are.equal(256, w.images_per_step)
    assert.are.equal(2 * 256 * (2 * 50176 + 25088), w.flop_per_step)
    local m = w.moongrad
    assert.are.equal(1, m.reps)
    for _, k in ipairs { "images_per_s", "steps_per_s", "peak_rss_mb", "base_rss_mb", "gflops", "pct_sgemm_peak" } do
      assert.is_true(type(m[k]) == "number" and m[k] > 0, k)
    end
    assert.is_true(m.peak_rss_mb >= m.base_rss_mb)
    H.assert_near(m.images_per_s, 256 * m.steps_per_s, 0, 1e-9)
    assert.is_nil(w.torch)
    assert.is_nil(w.ratio)

    assert.is_true(doc.machine.sgemm_gflops[1] > 0)
    assert.is_true(doc.startup.moongrad_ms >= 0 and doc.startup.launches >= 1)
    assert.is_nil(doc.startup.torch_ms)
    -- without PyTorch only the start-up target can be judged
    assert.are.equal(1, #doc.targets)
    assert.is_truthy(doc.targets[1].name:find("start-up", 1, true))
    assert.are.equal(10, doc.targets[1].goal)
    assert.are.equal(doc.startup.moongrad_ms < 10, doc.targets[1].met)
  end)

  it("refuses an unknown workload, naming the known ones", function()
    local out, code = H.run(H.bin .. " bench/run.lua --workloads nosuch --no-torch")
    assert.are.equal(2, code)
    assert.is_truthy(out:find("unknown workload nosuch", 1, true), out)
    assert.is_truthy(out:find("rotation", 1, true), out)
  end)

  it("a workload script refuses to run without the data file", function()
    local out, code = H.run(H.bin .. " bench/workloads/ae.lua --threads 1")
    assert.are_not.equal(0, code)
    assert.is_truthy(out:find("--data FILE is required", 1, true), out)
  end)
end)

describe("bench/layers.lua", function()
  it("times each layer of the seed CNN, the fused groups as one row each, and sums them", function()
    local out, code = H.run(H.bin .. " bench/layers.lua --batch 16 --reps 1")
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("Conv2d+ReLU+MaxPool2d (fused)", 1, true), out)
    assert.is_truthy(out:find("Conv2d+ReLU (fused)", 1, true), out)
    assert.is_truthy(out:find("nn.Linear(1152 -> 128)", 1, true), out)
    assert.is_truthy(out:find("Adam step", 1, true), out)
    local total = tonumber(out:match("\ntotal%s+([%d.]+)"))
    assert.is_true(total and total > 0, out)
  end)

  it("refuses an unknown option or model", function()
    local out, code = H.run(H.bin .. " bench/layers.lua --nosuch 1")
    assert.are.equal(2, code)
    assert.is_truthy(out:find("usage:", 1, true), out)
    out, code = H.run(H.bin .. " bench/layers.lua --model nosuch")
    assert.are.equal(2, code)
    assert.is_truthy(out:find("unknown model nosuch", 1, true), out)
  end)
end)
