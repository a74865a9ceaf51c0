-- Smoke run of examples/adversarial_text.lua on the bundled IMDB sample: a
-- tiny Transformer trained with every method for one epoch, attacked on
-- its embeddings and with synonyms from a WordNet-format fixture; the
-- table, the examples, the picture and the JSON line come out.
local H = require "helpers"

describe("examples/adversarial_text.lua", function()
  it("runs in smoke mode and prints its figures as the last line of JSON", function()
    local dir = H.tmpdir()
    local r, out = H.run_example("adversarial_text", "--limit 48 --test-limit 24 --epochs 1 --batch-size 16" ..
      " --vocab-size 800 --max-length 24 --d-model 16 --layers 1 --heads 2 --ff 32" ..
      " --methods normal,random,fgm,freelb,vat" ..
      " --freelb-steps 2 --pgd-eps 1,4 --pgd-steps 2 --eval-limit 8 --syn-limit 6 --syn-budget 0.2" ..
      " --wordnet spec/fixtures/wordnet --threads 1 --out " .. dir)
    assert.are.equal("adversarial_text", r.example)
    assert.are.equal(48, r.train_reviews)
    assert.are.equal(24, r.test_reviews)
    assert.are.same({ 1, 4 }, r.pgd_eps)
    local names = {}
    for i, m in ipairs(r.methods) do
      names[i] = m.method
      assert.is_true(m.clean >= 0 and m.clean <= 1)
      assert.are.equal(2, #m.pgd)
      assert.is_true(m.pgd[2] <= m.pgd[1] + 1e-9, m.method)
      local s = m.synonym
      assert.are.equal(6, s.n)
      assert.is_true(s.accuracy_after <= s.accuracy_before and s.queries >= 0, m.method)
      assert.is_true(s.changed_share <= 0.2 + 1e-9, m.method)
    end
    assert.are.same({ "normal", "random", "fgm", "freelb", "vat" }, names)
    assert.is_true(H.is_png(r.pictures[1]))
    assert.truthy(out:find("method%s+clean%s+PGD 1%s+PGD 4%s+synonym%s+success%s+words%s+queries"),
      "the table is missing")
    local f = io.open(dir .. "/tokenizer.json")
    assert.truthy(f, "the tokenizer is saved")
    f:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("rejects an unknown method", function()
    local dir = H.tmpdir()
    local out, code = H.run(H.bin .. " examples/adversarial_text.lua --methods normal,adv --out " .. dir)
    os.execute("rm -rf '" .. dir .. "'")
    assert.are_not.equal(0, code)
    assert.truthy(out:find("unknown method 'adv'", 1, true), out)
  end)
end)
