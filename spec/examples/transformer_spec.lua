-- examples/transformer.lua runs end to end on the bundled sample in its
-- smoke mode: text (tokenizer, masked-token pre-training, fine-tuning with
-- few and all labels, attention maps, curves; a second run reuses the
-- tokenizer and the encoder) and images as sequences of rows.
local H = require "helpers"

local function check_pngs(list)
  for _, png in ipairs(list) do assert.is_true(H.is_png(png), png) end
end

describe("examples/transformer.lua", function()
  it("pre-trains, fine-tunes, draws and prints one JSON line; a second run reuses its tokenizer and encoder",
    function()
      local dir = H.tmpdir()
      local args = "--smoke --limit 60 --test-limit 40 --seq 32 --pretrain-steps 4 --epochs 1 --few-epochs 1 "
        .. "--labels 20,all --maps 1 --out " .. dir
      local r, out = H.run_example("transformer", args)
      assert.are.equal("transformer", r.example)
      assert.are.equal("imdb", r.data)
      assert.is_true(r.model.alibi) -- the distance bias is on by default
      assert.are.equal(60, r.train_texts)
      assert.are.equal(40, r.test_texts)
      assert.are.equal(4, r.pretrain.steps)
      assert.are.equal(2, #r.results)
      assert.are.same({ 20, 60 }, { r.results[1].labels, r.results[2].labels })
      for _, row in ipairs(r.results) do
        for _, k in ipairs({ "pretrained", "scratch" }) do assert.is_true(row[k] >= 0 and row[k] <= 1, k) end
      end
      assert.are.equal(3, #r.pictures) -- 1 attention map, the two curves
      check_pngs(r.pictures)
      assert.is_truthy(out:find("tokenizer: 1000 tokens learned", 1, true))
      local again, out2 = H.run_example("transformer", args .. " --no-scratch --labels 20")
      assert.is_truthy(out2:find("tokenizer: reusing", 1, true))
      assert.is_truthy(out2:find("pre-trained encoder: reusing", 1, true))
      assert.is_nil(again.pretrain)
      -- the attention on neighbouring tokens, measured on the saved encoder as on the trained one
      assert.is_true(r.neighbour_attention > 0 and r.neighbour_attention <= 1)
      assert.is_true(math.abs(again.neighbour_attention - r.neighbour_attention) < 1e-6)
      assert.is_nil(again.results[1].scratch)
    end)

  it("classifies images as sequences of rows beside the seed CNN", function()
    local dir = H.tmpdir()
    local r = H.run_example("transformer", "--smoke --data mnist --limit 128 --test-limit 64 --epochs 1 --out " .. dir)
    assert.are.equal("mnist", r.data)
    assert.are.equal("rows", r.image_tokens)
    assert.are.equal(128, r.train_images)
    assert.is_true(r.transformer_acc >= 0 and r.transformer_acc <= 1)
    assert.is_true(r.seed_cnn_acc >= 0 and r.seed_cnn_acc <= 1)
    check_pngs(r.pictures)
  end)
end)
