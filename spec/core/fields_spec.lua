-- Misspellings fail loudly: an unknown Tensor field raises an error naming
-- what the user probably meant, while methods and real fields resolve as
-- before; constructors refuse a dtype or option they do not know instead
-- of silently making float32.
local H = require "helpers"
local mg = H.mg

describe("unknown Tensor fields", function()
  it("raise an error that suggests the moongrad name", function()
    local x = mg.ones(2, 3)
    H.assert_error(function() return x.T end, "Tensor has no field or method 'T'; did you mean x:t()?")
    H.assert_error(function() return x.ndim end, "'ndim'; did you mean x:dim()?")
    H.assert_error(function() return x.dtypes end, "'dtypes'; did you mean x.dtype?")
    H.assert_error(function() return x.nelement end, "did you mean x:numel()?")
    H.assert_error(function() return x.numpy end, "did you mean x:totable()?")
    H.assert_error(function() return x.cuda end, "moongrad runs on the CPU")
  end)

  it("suggest the nearest method or field by edit distance", function()
    local x = mg.ones(2)
    H.assert_error(function() return x.shpe end, "'shpe'; did you mean x:shape()?")
    H.assert_error(function() return x.unsqeeze end, "did you mean x:unsqueeze()?")
    H.assert_error(function() return x.requires_grads end, "did you mean x.requires_grad?")
    H.assert_error(function() return x.Sum end, "did you mean x:sum()?")
    local err = H.assert_error(function() return x.zzzzzz end, "Tensor has no field or method 'zzzzzz'")
    assert.is_nil(err:find("did you mean", 1, true))
  end)

  it("blame the user's line", function()
    local x = mg.ones(2)
    local err = H.assert_error(function() return x.T end, "fields_spec.lua:")
    assert.is_truthy(err:match("^[^\n]*fields_spec%.lua:%d+: Tensor has no field"))
  end)

  it("leave methods and real fields alone", function()
    local x = mg.ones(2, 3)
    assert.are.same({ 2, 3 }, x.shape(x))
    assert.are.equal(mg.methods.sum, x.sum)
    assert.are.equal("float32", x.dtype)
    assert.is_nil(x.grad)
    assert.is_nil(x.grad_fn)
    assert.is_false(x.requires_grad)
    assert.is_true(x.is_leaf)
    assert.are.equal("function", type(x.std)) -- a method written in Lua
    assert.are.equal(0, x:std():item())
  end)
end)

describe("constructor dtypes and options", function()
  it("take a dtype name in place of the options table", function()
    assert.are.equal("int64", mg.tensor({ 1, 2 }, "int64").dtype)
    assert.are.same({ 1, 2 }, mg.tensor({ 1, 2 }, "int64"):totable())
    assert.are.equal("uint8", mg.zeros(2, 3, "uint8").dtype)
    assert.are.equal("int64", mg.full(2, 7, "long").dtype)
    assert.are.equal("float32", mg.arange(3, "float32").dtype)
    assert.are.equal("int64", mg.zeros_like(mg.ones(2), "int64").dtype)
  end)

  it("take requires_grad as PyTorch's constructors do", function()
    local w = mg.zeros(2, { requires_grad = true })
    assert.is_true(w.requires_grad)
    assert.is_true(mg.tensor({ 1, 2 }, { requires_grad = true }).requires_grad)
    assert.is_true(mg.randn(2, { requires_grad = true }).requires_grad)
    H.assert_error(function() mg.zeros(2, { dtype = "int64", requires_grad = true }) end, "only float32")
  end)

  it("refuse unknown dtypes, options and trailing arguments", function()
    H.assert_error(function() mg.tensor({ 1, 2 }, "int63") end, "tensor: unknown dtype 'int63'")
    H.assert_error(function() mg.tensor({ 1, 2 }, { dtyp = "int64" }) end,
      "tensor: unknown option 'dtyp' (expected one of dtype, requires_grad)")
    H.assert_error(function() mg.tensor({ 1, 2 }, 5) end, "tensor: expected a dtype name or an options table")
    H.assert_error(function() mg.ones(2, { type = "int64" }) end, "ones: unknown option 'type'")
    H.assert_error(function() mg.rand(2, "int64") end, "rand: random values are float32, got dtype int64")
    H.assert_error(function() mg.zeros(2, true) end,
      "zeros: expected sizes then a dtype or an options table, got boolean")
  end)
end)
