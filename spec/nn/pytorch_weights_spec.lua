-- Weights under PyTorch's names: a model saved by PyTorch
-- (spec/fixtures/torch_model.safetensors, written by
-- make_pytorch_model_fixture.py) loads with {keys = "pytorch"} and gives
-- PyTorch's outputs; state_dict{keys = "pytorch"} gives exactly the names,
-- shapes and dtypes PyTorch's state_dict has, so PyTorch's strict
-- load_state_dict takes the file as it is.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn

local FIXTURE = "spec/fixtures/torch_model.safetensors"
local IO = "spec/fixtures/torch_model_io.safetensors"

-- The fixture's model: named children holding numbered ones.
local Net = nn.Module:extend("Net")
function Net:init()
  nn.Module.init(self)
  self.features = nn.Sequential { nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2) }
  self.head = nn.Sequential { nn.Flatten(), nn.Linear(4 * 3 * 3, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 3) }
end
function Net:forward(x) return self.head(self.features(x)) end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

describe("PyTorch-named weights", function()
  before_each(H.reseed(2))

  it("load a model PyTorch saved and give PyTorch's outputs", function()
    local model = Net()
    local sd = mg.load(FIXTURE)
    local result = model:load_state_dict(sd, { keys = "pytorch" })
    assert.are.same({}, result.missing_keys)
    assert.are.same({}, result.unexpected_keys)
    H.assert_near(model.features[2].running_var, sd["features.1.running_var"])
    assert.are.equal(3, model.features[2].num_batches_tracked:item())
    model:eval()
    local io = mg.load(IO)
    H.assert_near(model(io.input), io.output, 1e-5, 1e-4)
  end)

  it("export exactly the names, shapes and dtypes of PyTorch's state_dict", function()
    local theirs = mg.load(FIXTURE)
    local ours = Net():state_dict { keys = "pytorch" }
    assert.are.same(sorted_keys(theirs), sorted_keys(ours))
    for k, t in pairs(theirs) do
      assert.are.same(t:shape(), ours[k]:shape(), k)
      assert.are.equal(t.dtype, ours[k].dtype, k)
    end
    assert.is_truthy(ours["head.4.weight"])
    assert.is_nil(ours["head.5.weight"])
  end)

  it("survive mg.save and come back under either naming", function()
    local model = Net()
    model:load_state_dict(mg.load(FIXTURE), { keys = "pytorch" })
    local path = os.tmpname()
    mg.save(path, model:state_dict { keys = "pytorch" })
    local back = Net()
    back:load_state_dict(mg.load(path), { keys = "pytorch" })
    os.remove(path)
    local a, b = model:state_dict(), back:state_dict()
    assert.are.same(sorted_keys(a), sorted_keys(b))
    for k, t in pairs(a) do H.assert_near(b[k], t, 0, 0, k) end
    assert.is_truthy(a["features.1.weight"]) -- moongrad's own names stay 1-based
  end)

  it("number nn.Sequential's children from 0 and back", function()
    local seq = nn.Sequential { nn.Linear(2, 3), nn.ReLU(), nn.Sequential { nn.Linear(3, 1) } }
    assert.are.same({ "0.bias", "0.weight", "2.0.bias", "2.0.weight" },
      sorted_keys(seq:state_dict { keys = "pytorch" }))
    assert.are.same({ "1.bias", "1.weight", "3.1.bias", "3.1.weight" }, sorted_keys(seq:state_dict()))
    local copy = nn.Sequential { nn.Linear(2, 3), nn.ReLU(), nn.Sequential { nn.Linear(3, 1) } }
    copy:load_state_dict(seq:state_dict { keys = "pytorch" }, { keys = "pytorch" })
    H.assert_near(copy[3][1].weight, seq[3][1].weight, 0, 0)
  end)

  it("say how to load PyTorch's names when the option is missing", function()
    H.assert_error(function() Net():load_state_dict(mg.load(FIXTURE)) end,
      "load_state_dict: the keys are PyTorch's names (children numbered from 0, as in features.0.weight): "
      .. "pass {keys = \"pytorch\"} to load them")
    local err = H.assert_error(function() Net():load_state_dict(Net():state_dict(), { keys = "pytorch" }) end,
      "missing from the file: features.0.weight") -- reported in the caller's naming
    assert.is_nil(err:find("pass {keys", 1, true))
  end)

  it("report shape mismatches under the names the caller used", function()
    local sd = mg.load(FIXTURE)
    sd["head.4.weight"] = mg.zeros(2, 8)
    H.assert_error(function() Net():load_state_dict(sd, { keys = "pytorch" }) end,
      "head.4.weight has shape [2, 8] in the file, [3, 8] in the model")
  end)

  it("refuse an unknown naming", function()
    H.assert_error(function() Net():state_dict { keys = "torch" } end,
      "state_dict: option keys must be \"moongrad\" or \"pytorch\", got torch")
    H.assert_error(function() Net():load_state_dict({}, { keys = 1 }) end,
      "load_state_dict: option keys must be \"moongrad\" or \"pytorch\", got 1")
    H.assert_error(function() Net():state_dict("pytorch") end, "state_dict: options must be a table, got string")
  end)
end)
