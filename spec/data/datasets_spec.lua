-- mg.data.mnist / fashion_mnist / TensorDataset: the bundled sample, a
-- full set when present, where data is looked for, and errors.
local H = require "helpers"
local mg = H.mg

local cwd = io.popen("pwd"):read("l")
local tmp = os.tmpname()
os.remove(tmp)
os.execute("mkdir -p '" .. tmp .. "'")

-- A data folder holding only the bundled sample (so a fetched full set
-- on this machine does not change what the specs see).
local sample_root = tmp .. "/only_sample"
os.execute("mkdir -p '" .. sample_root .. "' && ln -s '" .. cwd .. "/data/sample' '" .. sample_root .. "/sample'")

-- counts[c] = number of labels equal to c (1-based classes)
local function class_counts(labels, n)
  local counts = {}
  for c = 1, n do counts[c] = mg.eq(labels:float(), c):sum():item() end
  return counts
end

describe("mg.data datasets", function()
  teardown(function() os.execute("rm -rf '" .. tmp .. "'") end)

  it("mnist: the bundled sample, 2000 train / 500 test, balanced, 1-based labels", function()
    local ds = mg.data.mnist{ split = "train", root = sample_root, quiet = true }
    assert.equal(2000, #ds)
    assert.equal("mnist", ds.name)
    assert.equal("sample", ds.source)
    assert.equal("train", ds.split)
    assert.same({ 2000, 1, 28, 28 }, ds.images:shape())
    assert.equal("float32", ds.images.dtype)
    assert.equal(0, ds.images:min():item())
    assert.equal(1, ds.images:max():item())
    assert.equal("int64", ds.labels.dtype)
    assert.same({ 2000 }, ds.labels:shape())
    assert.same({ 200, 200, 200, 200, 200, 200, 200, 200, 200, 200 }, class_counts(ds.labels, 10))
    assert.same({ "0", "1", "2", "3", "4", "5", "6", "7", "8", "9" }, ds.classes)
    -- pixels are bytes / 255
    local bytes = ds.images:narrow(1, 1, 10) * 255
    H.assert_near(bytes, (bytes + 0.5):clamp(0, 255):to("int64"):float(), 1e-3)
    local test = mg.data.mnist{ split = "test", root = sample_root, quiet = true }
    assert.equal(500, #test)
    assert.same({ 50, 50, 50, 50, 50, 50, 50, 50, 50, 50 }, class_counts(test.labels, 10))
    assert.equal("test", test.split)
  end)

  it("fashion_mnist: the bundled sample with the class names", function()
    local ds = mg.data.fashion_mnist{ root = sample_root, quiet = true }
    assert.equal(2000, #ds)
    assert.equal("train", ds.split)
    assert.equal("fashion_mnist", ds.name)
    assert.same({ "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
      "Ankle boot" }, ds.classes)
    assert.same({ 2000, 1, 28, 28 }, ds.images:shape())
    assert.equal(1, ds.labels:float():min():item())
    assert.equal(10, ds.labels:float():max():item())
    assert.equal(500, #mg.data.fashion_mnist{ split = "test", root = sample_root, quiet = true })
    assert.truthy(tostring(ds):find("fashion_mnist train (sample): 2000 images [2000, 1, 28, 28], 10 classes", 1, true))
  end)

  it("limit keeps the first images", function()
    local all = mg.data.mnist{ root = sample_root, quiet = true }
    local few = mg.data.mnist{ root = sample_root, limit = 30, quiet = true }
    assert.equal(30, #few)
    H.assert_near(few.images, all.images:narrow(1, 1, 30), 0)
    assert.same(all.labels:narrow(1, 1, 30):totable(), few.labels:totable())
    assert.equal(2000, #mg.data.mnist{ root = sample_root, limit = 5000, quiet = true })
  end)

  it("uses <root>/full when it holds the split, plain or gzip files", function()
    local root = tmp .. "/with_full"
    os.execute("mkdir -p '" .. root .. "/full/mnist' && ln -s '" .. cwd .. "/data/sample' '" .. root .. "/sample'")
    local imgs = mg.tensor({ { { 0, 255 }, { 51, 102 } }, { { 255, 255 }, { 0, 0 } }, { { 1, 2 }, { 3, 4 } } },
      { dtype = "uint8" })
    mg.write_idx(root .. "/full/mnist/train-images-idx3-ubyte", imgs)
    mg.write_idx(root .. "/full/mnist/train-labels-idx1-ubyte.gz", mg.tensor({ 9, 0, 4 }, { dtype = "uint8" }))
    local ds = mg.data.mnist{ root = root, quiet = true }
    assert.equal("full", ds.source)
    assert.equal(3, #ds)
    assert.same({ 3, 1, 2, 2 }, ds.images:shape())
    H.assert_near(ds.images[1], { { { 0, 1 }, { 0.2, 0.4 } } }, 1e-7)
    assert.same({ 10, 1, 5 }, ds.labels:totable())
    -- the test split is not in full/, so it comes from the sample
    local test = mg.data.mnist{ split = "test", root = root, quiet = true }
    assert.equal("sample", test.source)
    assert.equal(500, #test)
  end)

  it("refuses labels out of range or counts that differ", function()
    local root = tmp .. "/bad"
    os.execute("mkdir -p '" .. root .. "/full/fashion'")
    local dir = root .. "/full/fashion/"
    mg.write_idx(dir .. "train-images-idx3-ubyte.gz", mg.zeros(2, 28, 28):byte())
    mg.write_idx(dir .. "train-labels-idx1-ubyte.gz", mg.tensor({ 3, 10 }, { dtype = "uint8" }))
    H.assert_error(function() mg.data.fashion_mnist{ root = root, quiet = true } end,
      "fashion_mnist", "train-labels-idx1-ubyte.gz", "labels in 3..10, expected 0..9")
    mg.write_idx(dir .. "train-labels-idx1-ubyte.gz", mg.tensor({ 3 }, { dtype = "uint8" }))
    H.assert_error(function() mg.data.fashion_mnist{ root = root, quiet = true } end,
      "fashion_mnist", "holds [1], expected 2 labels")
    mg.write_idx(dir .. "train-images-idx3-ubyte.gz", mg.zeros(2, 784):byte())
    H.assert_error(function() mg.data.fashion_mnist{ root = root, quiet = true } end,
      "fashion_mnist", "holds [2, 784], expected images [N, H, W]")
  end)

  it("says clearly when nothing is found or an option is wrong", function()
    H.assert_error(function() mg.data.mnist{ root = tmp .. "/empty" } end,
      "mnist: no train files in", "/empty/full/mnist", "/empty/sample/mnist", "run `make data`")
    H.assert_error(function() mg.data.mnist{ split = "val", root = sample_root } end,
      "mnist: split must be \"train\" or \"test\", got val")
    H.assert_error(function() mg.data.fashion_mnist{ splt = "test" } end, "fashion_mnist: unknown option 'splt'")
    H.assert_error(function() mg.data.mnist{ limit = 0, root = sample_root } end,
      "mnist: limit must be a positive integer")
    H.assert_error(function() mg.data.mnist{ limit = 2.5, root = sample_root } end, "limit must be a positive integer")
    H.assert_error(function() mg.data.mnist("train") end, "mnist: options must be a table")
    H.assert_error(function() mg.data.mnist{ root = 3 } end, "root must be a string")
  end)

  it("finds data/ beside the package, or $MOONGRAD_DATA; says which set once on stderr", function()
    if not os.getenv("MOONGRAD_DATA") then
      local dir = mg.data.data_dir()
      assert.truthy(dir == "data" or dir:sub(-5) == "/data", dir)
    end
    local lua_path = string.format("LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua;;'", cwd, cwd)
    local script = [[
      local mg = require "moongrad"
      print(mg.data.data_dir())
      local a = mg.data.fashion_mnist{split = "train"}
      local b = mg.data.fashion_mnist{split = "test"}
      print(a.source, #a, b.source, #b)]]
    local out, code = H.run(string.format("cd '%s' && %s MOONGRAD_DATA= '%s' -e '%s'", tmp, lua_path, H.bin, script))
    assert.equal(0, code, out)
    assert.truthy(out:find(cwd .. "/data\n", 1, true), out)
    out, code = H.run(string.format("cd '%s' && %s MOONGRAD_DATA='%s' '%s' -e '%s'", tmp, lua_path, sample_root, H.bin,
      script))
    assert.equal(0, code, out)
    assert.truthy(out:find(sample_root .. "\n", 1, true), out)
    assert.truthy(out:find("sample\t2000\tsample\t500", 1, true), out)
    local note = "fashion_mnist: using the bundled sample (2000 train images); run `make data` for the full set"
    local first = out:find(note, 1, true)
    assert.truthy(first, out)
    assert.falsy(out:find("fashion_mnist: using", first + 1, true), out)
  end)

  describe("TensorDataset", function()
    it("holds images and labels with the same first dim", function()
      local ds = mg.data.TensorDataset(mg.zeros(5, 3), mg.tensor({ 1, 2, 3, 4, 5 }, { dtype = "int64" }))
      assert.equal(5, #ds)
      assert.same({ 5, 3 }, ds.images:shape())
      assert.equal(4, #mg.data.TensorDataset(mg.zeros(4, 2)))
      assert.truthy(tostring(ds):find("TensorDataset: 5 samples, images [5, 3], labels [5]", 1, true))
      H.assert_error(function() mg.data.TensorDataset(mg.zeros(5, 3), mg.zeros(4)) end,
        "TensorDataset: labels has 4 samples ([4]) but images has 5")
      H.assert_error(function() mg.data.TensorDataset({}) end, "TensorDataset: expected at least one tensor")
      H.assert_error(function() mg.data.TensorDataset(mg.zeros(2), 3) end,
        "TensorDataset: labels must be a Tensor, got number")
    end)
  end)
end)

describe("dataset source option", function()
  it("picks the bundled sample on request and refuses bad values", function()
    local ds = mg.data.mnist { split = "test", source = "sample", quiet = true }
    assert.are.equal("sample", ds.source)
    assert.are.equal(500, #ds)
    H.assert_error(function() mg.data.mnist { source = "web" } end,
      "mnist: source must be \"auto\", \"full\" or \"sample\", got web")
  end)
end)
