-- nn.Module: registration (order, names, kinds), traversal, train/eval,
-- zero_grad, state_dict / load_state_dict, printing, and the containers
-- nn.Sequential and nn.ModuleList.
local H = require "helpers"
local mg = H.mg
local nn = mg.nn

local function names_of(iter)
  local out = {}
  for name in iter do out[#out + 1] = name end
  return out
end

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- A module with its own parameter between two children, a buffer, and a
-- nested Sequential.
local Block = nn.Module:extend("Block")
function Block:init()
  nn.Module.init(self)
  self.fc1 = nn.Linear(4, 3)
  self.scale = nn.Parameter(mg.ones(3))
  self.features = nn.Sequential{ nn.Linear(3, 3), nn.ReLU(), nn.BatchNorm1d(3) }
  self:register_buffer("steps", mg.zeros(1))
  self.note = "plain field"
  self.cache = mg.zeros(2) -- a tensor without requires_grad: a plain field
end
function Block:forward(x) return self.features(self.fc1(x) * self.scale) end

describe("nn.Module", function()
  before_each(H.reseed(11))

  describe("registration", function()
    it("names parameters by dotted paths, own entries first, then children depth first", function()
      local b = Block()
      assert.are.same({ "scale", "fc1.weight", "fc1.bias", "features.1.weight", "features.1.bias",
        "features.3.weight", "features.3.bias" }, names_of(b:named_parameters()))
      local params = b:parameters()
      assert.are.equal(7, #params)
      assert.is_true(rawequal(params[1], b.scale))
      assert.is_true(rawequal(params[2], b.fc1.weight))
      assert.is_true(rawequal(params[4], b.features[1].weight))
    end)

    it("keeps plain fields out of parameters, buffers and state_dict", function()
      local b = Block()
      assert.are.equal("plain field", b.note)
      assert.are.equal(2, b.cache:numel())
      for name in pairs(b:state_dict()) do
        assert.is_nil(name:find("cache"), name)
        assert.is_nil(name:find("note"), name)
      end
    end)

    it("lists buffers and children in registration order", function()
      local b = Block()
      assert.are.same({ "steps", "features.3.running_mean", "features.3.running_var",
        "features.3.num_batches_tracked" }, names_of(b:named_buffers()))
      assert.are.same({ "fc1", "features" }, names_of(b:named_children()))
      assert.are.same({ "", "fc1", "features", "features.1", "features.2", "features.3" },
        names_of(b:named_modules()))
      local children = b:children()
      assert.are.equal(2, #children)
      assert.is_true(rawequal(children[2], b.features))
      assert.are.equal(6, #b:modules())
    end)

    it("has state_dict keys for nested modules, parameters and persistent buffers", function()
      local b = Block()
      b:register_buffer("scratch", mg.zeros(5), { persistent = false })
      assert.are.same({ "fc1.bias", "fc1.weight", "features.1.bias", "features.1.weight",
        "features.3.bias", "features.3.num_batches_tracked", "features.3.running_mean",
        "features.3.running_var", "features.3.weight", "scale", "steps" }, sorted_keys(b:state_dict()))
      local found = false
      for name in b:named_buffers() do found = found or name == "scratch" end
      assert.is_true(found)
    end)

    it("state_dict tensors share storage with the module but record no graph", function()
      local lin = nn.Linear(2, 2)
      local sd = lin:state_dict()
      assert.is_false(sd.weight.requires_grad)
      mg.no_grad(function() lin.weight:fill_(3) end)
      H.assert_near(sd.weight, { { 3, 3 }, { 3, 3 } })
    end)

    it("replaces a registered value in place and unregisters on nil", function()
      local b = Block()
      b.fc1 = nn.Linear(4, 3, { bias = false })
      assert.are.same({ "scale", "fc1.weight", "features.1.weight", "features.1.bias",
        "features.3.weight", "features.3.bias" }, names_of(b:named_parameters()))
      b.scale = nil
      assert.is_nil(b.scale)
      assert.are.equal("fc1.weight", names_of(b:named_parameters())[1])
      b.scale = nn.Parameter(mg.ones(3)) -- registered again, now after the others
      local names = names_of(b:named_parameters())
      assert.are.equal("scale", names[1]) -- own parameters still come first
    end)

    it("refuses to put a value of another kind in a registered slot", function()
      local b = Block()
      H.assert_error(function() b.fc1 = 3 end, "Block: cannot assign a number to child module 'fc1'")
      H.assert_error(function() b.scale = mg.ones(3) end,
        "Block: cannot assign a float32 tensor [3] without requires_grad to parameter 'scale'",
        "nn.Parameter(t) or nil expected")
      H.assert_error(function() b.steps = "x" end, "cannot assign a string to buffer 'steps'")
      H.assert_error(function() b:register_buffer("fc1", mg.zeros(1)) end,
        "register_buffer: 'fc1' is already a child module of Block")
    end)

    it("turns a plain field into a child when a module is assigned later", function()
      local m = nn.Module()
      m.block = false
      m.block = nn.Linear(2, 2)
      assert.are.same({ "block.weight", "block.bias" }, names_of(m:named_parameters()))
    end)

    it("keeps a frozen parameter registered and saved", function()
      local lin = nn.Linear(3, 2)
      lin.weight:requires_grad_(false)
      assert.are.equal(2, #lin:parameters())
      assert.are.equal(2, lin:num_parameters({ trainable = true }))
      assert.are.equal(8, lin:num_parameters())
      assert.is_not_nil(lin:state_dict().weight)
    end)

    it("lists a tied weight once in parameters() and under both names in state_dict", function()
      local m = nn.Module()
      m.enc = nn.Linear(3, 3)
      m.dec = nn.Linear(3, 3)
      m.dec.weight = m.enc.weight
      assert.are.same({ "enc.weight", "enc.bias", "dec.bias" }, names_of(m:named_parameters()))
      assert.are.equal(3 * 3 + 3 + 3, m:num_parameters())
      assert.are.same({ "dec.bias", "dec.weight", "enc.bias", "enc.weight" }, sorted_keys(m:state_dict()))
    end)

    it("works with mg.class and with subclasses of user modules", function()
      local Base = mg.class("Base", nn.Module)
      function Base:init() nn.Module.init(self); self.a = nn.Linear(2, 2) end
      local Derived = Base:extend("Derived")
      function Derived:init() Base.init(self); self.b = nn.Linear(2, 1) end
      function Derived:forward(x) return self.b(self.a(x)) end
      local d = Derived()
      assert.are.same({ "a.weight", "a.bias", "b.weight", "b.bias" }, names_of(d:named_parameters()))
      assert.are.same({ 4, 1 }, d(mg.randn(4, 2)):shape())
      assert.is_true(nn.is_module(d))
      assert.is_false(nn.is_module({}))
    end)

    it("makes parameters with nn.Parameter and register_parameter", function()
      local t = mg.randn(2, 3)
      local p = nn.Parameter(t)
      assert.is_true(p.requires_grad and p.is_leaf)
      assert.is_false(t.requires_grad)
      local m = nn.Module()
      m:register_parameter("w", mg.zeros(2))
      assert.is_true(m.w.requires_grad)
      H.assert_error(function() nn.Parameter(mg.tensor({ 1 }, { dtype = "int64" })) end,
        "nn.Parameter: expects a float32 tensor, got int64")
    end)

    it("registers fields even when init skips nn.Module.init", function()
      local Lazy = nn.Module:extend("Lazy")
      function Lazy:init() self.fc = nn.Linear(2, 2) end
      local m = Lazy()
      assert.are.equal(2, #m:parameters())
      assert.is_true(m.training)
      assert.is_false(m:eval().training)
    end)

    it("raises a clear error when forward is missing", function()
      local Empty = nn.Module:extend("Empty")
      H.assert_error(function() Empty()(mg.zeros(1)) end, "Empty: forward is not defined")
    end)
  end)

  describe("train and eval", function()
    it("set the training flag recursively and return the module", function()
      local b = Block()
      assert.is_true(b.training and b.features[3].training)
      assert.is_true(rawequal(b:eval(), b))
      for _, m in ipairs(b:modules()) do assert.is_false(m.training) end
      b:train()
      for _, m in ipairs(b:modules()) do assert.is_true(m.training) end
    end)

    it("switch dropout to the identity in eval", function()
      local net = nn.Sequential{ nn.Dropout(0.5) }
      local x = mg.ones(200, 10)
      local y = net(x)
      assert.is_true(y:eq(0):sum():item() > 500)
      net:eval()
      H.assert_near(net(x), x)
    end)

    it("make batch norm use its running statistics in eval", function()
      local net = nn.Sequential{ nn.BatchNorm1d(2, { momentum = 1 }) } -- running = last batch
      local x = mg.tensor{ { 1, 10 }, { 3, 20 }, { 5, 30 } }
      net(x) -- training: batch statistics; running mean (3, 20), unbiased var (4, 100)
      net:eval()
      local y = net(mg.tensor{ { 3, 30 } })
      H.assert_near(y, { { 0, 10 / math.sqrt(100 + 1e-5) } }, 1e-4)
    end)
  end)

  it("zero_grad drops every gradient", function()
    local net = nn.Sequential{ nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 1) }
    net(mg.randn(5, 4)):sum():backward()
    assert.is_not_nil(net[1].weight.grad)
    net:zero_grad()
    for _, p in ipairs(net:parameters()) do assert.is_nil(p.grad) end
  end)

  it("apply visits children before their parent", function()
    local b = Block()
    local seen = {}
    b:apply(function(m) seen[#seen + 1] = nn.Module.type_name(m) end)
    assert.are.same({ "nn.Linear", "nn.Linear", "nn.ReLU", "nn.BatchNorm1d", "nn.Sequential", "Block" }, seen)
  end)

  it("requires_grad_ freezes and unfreezes all parameters", function()
    local b = Block()
    b:requires_grad_(false)
    for _, p in ipairs(b:parameters()) do assert.is_false(p.requires_grad) end
    b:requires_grad_()
    for _, p in ipairs(b:parameters()) do assert.is_true(p.requires_grad) end
  end)

  describe("load_state_dict", function()
    it("round-trips values in place, buffers included", function()
      local a, b = Block(), Block()
      mg.no_grad(function() a.features[3].running_mean:fill_(0.5) end)
      a.features[3].num_batches_tracked:fill_(7)
      local weight = b.fc1.weight
      local result = b:load_state_dict(a:state_dict())
      assert.are.same({}, result.missing_keys)
      assert.are.same({}, result.unexpected_keys)
      assert.is_true(rawequal(weight, b.fc1.weight)) -- the same tensor, new values
      for name, t in pairs(a:state_dict()) do H.assert_near(b:state_dict()[name], t, 0, 0, name) end
      assert.are.equal(7, b.features[3].num_batches_tracked:item())
      assert.is_true(b.fc1.weight.requires_grad)
      assert.is_nil(b.fc1.weight.grad_fn)
    end)

    it("round-trips through a safetensors file", function()
      local a = nn.Sequential{ nn.Linear(3, 4), nn.BatchNorm1d(4) }
      a(mg.randn(5, 3))
      local path = os.tmpname()
      mg.save(path, a:state_dict())
      local b = nn.Sequential{ nn.Linear(3, 4), nn.BatchNorm1d(4) }
      b:load_state_dict(mg.load(path))
      os.remove(path)
      for name, t in pairs(a:state_dict()) do H.assert_near(b:state_dict()[name], t, 0, 0, name) end
      assert.are.equal(1, b[2].num_batches_tracked:item())
    end)

    it("names a missing key", function()
      local sd = Block():state_dict()
      sd["fc1.bias"] = nil
      H.assert_error(function() Block():load_state_dict(sd) end,
        "load_state_dict: missing from the file: fc1.bias")
    end)

    it("names an unexpected key", function()
      local sd = Block():state_dict()
      sd["head.weight"] = mg.zeros(2)
      H.assert_error(function() Block():load_state_dict(sd) end,
        "load_state_dict: not in the model (unexpected): head.weight")
    end)

    it("names a wrong shape with both shapes, even when not strict", function()
      local Net = nn.Module:extend("Net")
      function Net:init(n) nn.Module.init(self); self.fc = nn.Linear(n, 10) end
      local sd = Net(128):state_dict()
      local msg = "load_state_dict: fc.weight has shape [10, 128] in the file, [10, 64] in the model"
      H.assert_error(function() Net(64):load_state_dict(sd) end, msg)
      H.assert_error(function() Net(64):load_state_dict(sd, { strict = false }) end, msg)
    end)

    it("copies nothing when any key is wrong", function()
      local a, b = nn.Linear(2, 2), nn.Linear(2, 2)
      local before = b.weight:clone()
      local sd = a:state_dict()
      sd.bias = mg.zeros(3)
      H.assert_error(function() b:load_state_dict(sd) end, "bias has shape [3] in the file, [2] in the model")
      H.assert_near(b.weight, before, 0, 0)
    end)

    it("with strict = false, loads what matches and reports the rest", function()
      local a = nn.Linear(2, 2)
      local sd = { weight = mg.ones(2, 2), extra = mg.zeros(1) }
      local result = a:load_state_dict(sd, { strict = false })
      assert.are.same({ "bias" }, result.missing_keys)
      assert.are.same({ "extra" }, result.unexpected_keys)
      H.assert_near(a.weight, { { 1, 1 }, { 1, 1 } })
    end)

    it("rejects a value that is not a tensor", function()
      H.assert_error(function() nn.Linear(2, 2):load_state_dict({ weight = 1, bias = mg.zeros(2) }) end,
        "weight in the file is a number, expected a Tensor")
    end)
  end)

  describe("printing", function()
    it("shows a layer on one line", function()
      assert.are.equal("nn.Linear(784 -> 128)", tostring(nn.Linear(784, 128)))
      assert.are.equal("nn.ReLU", tostring(nn.ReLU()))
    end)

    it("shows children indented with parameter counts and the total", function()
      local net = nn.Sequential{ nn.Flatten(), nn.Linear(784, 128), nn.ReLU(),
        nn.Sequential{ nn.Linear(128, 10, { bias = false }) } }
      assert.are.equal(table.concat({
        "nn.Sequential {",
        "  (1): nn.Flatten",
        "  (2): nn.Linear(784 -> 128)                 100,480",
        "  (3): nn.ReLU",
        "  (4): nn.Sequential {",
        "    (1): nn.Linear(128 -> 10, no bias)         1,280",
        "  }",
        "}  101,760 parameters",
      }, "\n"), tostring(net))
      assert.are.equal(101760, net:num_parameters())
    end)

    it("shows field names and own parameters of a custom module", function()
      local m = nn.Module:extend("Head")()
      m.proj = nn.Linear(4, 2)
      m.pos = nn.Parameter(mg.zeros(1, 3))
      assert.are.equal(table.concat({
        "Head {",
        "  pos: parameter [1, 3]               3",
        "  proj: nn.Linear(4 -> 2)            10",
        "}  13 parameters",
      }, "\n"), tostring(m))
    end)
  end)

  describe("nn.Sequential", function()
    it("indexes, counts, appends and iterates its children", function()
      local a, b = nn.Linear(2, 3), nn.ReLU()
      local seq = nn.Sequential(a, b)
      assert.are.equal(2, #seq)
      assert.is_true(rawequal(seq[1], a) and rawequal(seq[2], b))
      seq:add(nn.Linear(3, 1))
      assert.are.equal(3, #seq)
      local n = 0
      for i, m in ipairs(seq) do n = n + 1; assert.is_true(rawequal(m, seq[i])) end
      assert.are.equal(3, n)
      assert.are.same({ 5, 1 }, seq(mg.randn(5, 2)):shape())
    end)

    it("computes the composition of its children", function()
      local lin = nn.Linear(2, 2)
      mg.no_grad(function()
        lin.weight:copy_(mg.tensor{ { 1, -1 }, { 2, 0 } })
        lin.bias:copy_(mg.tensor{ 0.5, -5 })
      end)
      local y = nn.Sequential{ lin, nn.ReLU() }(mg.tensor{ { 3, 1 } })
      H.assert_near(y, { { 2.5, 1 } })
    end)

    it("runs Conv2d, ReLU [, MaxPool2d(2)] fused, with the values and gradients of the children apart", function()
      local function layers()
        return nn.Conv2d(2, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, 3, { padding = 1 }), nn.ReLU(),
          nn.Flatten()
      end
      local seq = nn.Sequential{ layers() }
      local x = mg.randn(3, 2, 11, 10):requires_grad_()
      local y = seq(x)
      local apart = x
      for _, m in ipairs(seq) do apart = m(apart) end -- each child on its own
      H.assert_near(y, apart, 0, 0)
      local g = mg.randn(table.unpack(y:shape()))
      local params = seq:parameters()
      table.insert(params, 1, x)
      local g1, g2 = mg.grad((y * g):sum(), params), mg.grad((apart * g):sum(), params)
      for k = 1, #params do H.assert_near(g1[k], g2[k], 1e-5, 1e-5) end
      -- what ran fused: the second layer's output came out of the fused op
      local two = nn.Sequential{ seq[1], seq[2], seq[3] }
      assert.are.equal("conv2d_relu_pool", two(x).grad_fn)
      assert.are.equal("conv2d_relu_pool", nn.Sequential{ seq[1], seq[2] }(x).grad_fn)
    end)

    it("runs a subclass or a module with its own forward as written", function()
      local Noisy = nn.ReLU:extend("Noisy")
      function Noisy:forward(x) return mg.relu(x) + 1 end
      local conv, x = nn.Conv2d(1, 2, 3), mg.randn(1, 1, 6, 6)
      H.assert_near(nn.Sequential{ conv, Noisy(), nn.MaxPool2d(2) }(x), mg.max_pool2d(mg.relu(conv(x)) + 1, 2))
      local relu = nn.ReLU()
      relu.forward = function(_, t) return mg.relu(t) * 2 end
      H.assert_near(nn.Sequential{ conv, relu }(x), mg.relu(conv(x)) * 2)
      local pool = nn.MaxPool2d(2, { ceil_mode = true }) -- not the plain 2x2: ReLU fused, pooling apart
      assert.are.equal("max_pool2d", nn.Sequential{ conv, nn.ReLU(), pool }(x:requires_grad_()).grad_fn)
    end)

    it("says which child failed", function()
      local seq = nn.Sequential{ nn.Flatten(), nn.ReLU(), nn.Linear(784, 128) }
      H.assert_error(function() seq(mg.randn(2, 3, 5)) end, "nn.Sequential[3] (nn.Linear 784 -> 128): ",
        "linear:")
      local Boom = nn.Module:extend("Boom")
      function Boom:forward() error("boom", 0) end
      local outer = nn.Sequential{ nn.Identity(), nn.Sequential{ Boom() } }
      H.assert_error(function() outer(mg.zeros(1)) end,
        "nn.Sequential[2] (nn.Sequential): nn.Sequential[1] (Boom): boom")
      -- children that would fuse still name themselves
      local convs = nn.Sequential{ nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2) }
      H.assert_error(function() convs(mg.randn(1, 2, 8, 8)) end, "nn.Sequential[1] (nn.Conv2d 3 -> 4, 3x3): ",
        "conv2d: input [1, 2, 8, 8] has 2 channels")
      H.assert_error(function() convs(mg.randn(1, 3, 3, 3)) end, "nn.Sequential[3] (nn.MaxPool2d 2x2): ",
        "max_pool2d:")
    end)

    it("refuses elements that are not modules", function()
      H.assert_error(function() nn.Sequential{ nn.ReLU(), 3 } end,
        "nn.Sequential: element 2 is number, expected an nn.Module")
    end)
  end)

  describe("nn.ModuleList", function()
    it("registers its modules and has no forward", function()
      local list = nn.ModuleList{ nn.Linear(2, 2) }
      list:append(nn.Linear(2, 1))
      list:extend{ nn.Linear(1, 1) }
      assert.are.equal(3, #list)
      assert.are.same({ "1.weight", "1.bias", "2.weight", "2.bias", "3.weight", "3.bias" },
        names_of(list:named_parameters()))
      H.assert_error(function() list(mg.zeros(1)) end, "nn.ModuleList has no forward")
      local Sub = nn.ModuleList:extend("Sub") -- on the class, extend still makes a subclass
      assert.are.equal(0, #Sub())
    end)
  end)
end)
