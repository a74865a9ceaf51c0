-- The MNIST digits present (the official 60,000 / 10,000 set after `make
-- data`, else the bundled sample): counts and the per-digit histogram.
local H = require "helpers"
local mg = H.mg

local function histogram(labels)
  local counts = {}
  for c = 1, 10 do counts[c] = mg.eq(labels:float(), c):sum():item() end
  return counts
end

-- digits 0..9 of the official split (LeCun et al.'s train and t10k files)
local OFFICIAL = {
  train = { 5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949 },
  test = { 980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009 },
}
local SAMPLE = { train = 200, test = 50 }

describe("mnist digits present", function()
  for _, split in ipairs({ "train", "test" }) do
    it(split .. ": the official histogram (full set) or the balanced sample", function()
      local ds = mg.data.mnist{ split = split, quiet = true }
      local counts = histogram(ds.labels)
      if ds.source == "full" then
        assert(#ds == (split == "train" and 60000 or 10000), string.format(
          "data/full/mnist holds %d %s digits, not the official set: run `make data` again", #ds, split))
        assert.same(OFFICIAL[split], counts)
      else
        local n = SAMPLE[split]
        assert.same({ n, n, n, n, n, n, n, n, n, n }, counts)
      end
      assert.same({ #ds, 1, 28, 28 }, ds.images:shape())
    end)
  end
end)
