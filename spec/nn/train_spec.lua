-- Training end to end with mg.nn, autograd and mg.optim: a custom MLP
-- module (a few lines) fits two interleaved spirals exactly, and a small
-- CNN learns a few hundred of the bundled MNIST digits.
local H = require "helpers"
local mg = H.mg
local nn, F = mg.nn, mg.nn.functional

-- Two interleaved spirals of n points each; labels 1 and 2.
local function spirals(n)
  local pts, labels = {}, {}
  for c = 0, 1 do
    for i = 1, n do
      local r = 3 * i / n
      local a = 3.5 * math.pi * i / n + c * math.pi
      pts[#pts + 1] = { r * math.sin(a), r * math.cos(a) }
      labels[#labels + 1] = c + 1
    end
  end
  return mg.tensor(pts), mg.tensor(labels, { dtype = "int64" })
end

local function accuracy(net, x, y)
  return mg.no_grad(function() return net(x):argmax(2):eq(y):float():mean():item() end)
end

-- The first n images of the digits bundled under data/sample (the same on
-- every machine, whether or not the full sets were fetched).
local function bundled_digits(n)
  local dir = mg.data.data_dir() .. "/sample/mnist/"
  local images = mg.read_idx(dir .. "train-images-idx3-ubyte.gz", { scale = 1 / 255 })
  local labels = mg.read_idx(dir .. "train-labels-idx1-ubyte.gz")
  images = images:narrow(1, 1, n):contiguous():view(n, 1, 28, 28)
  labels = (labels:narrow(1, 1, n):float() + 1):long() -- digit d is class d + 1
  return images, labels
end

describe("training", function()
  before_each(H.reseed(3))

  it("a custom MLP module reaches 100% training accuracy on two spirals", function()
    local MLP = nn.Module:extend("MLP")
    function MLP:init(hidden)
      nn.Module.init(self)
      self.fc1 = nn.Linear(2, hidden)
      self.fc2 = nn.Linear(hidden, hidden)
      self.out = nn.Linear(hidden, 2)
    end
    function MLP:forward(x) return self.out(self.fc2(self.fc1(x):relu()):relu()) end

    local x, y = spirals(150)
    local net = MLP(64)
    local opt = mg.optim.Adam(net:parameters(), { lr = 0.01 })
    local acc, first_loss, loss = 0, nil, nil
    for step = 1, 600 do
      loss = F.cross_entropy(net(x), y)
      first_loss = first_loss or loss:item()
      opt:zero_grad()
      loss:backward()
      opt:step()
      if step % 25 == 0 then
        acc = accuracy(net, x, y)
        if acc == 1 then break end
      end
    end
    assert.are.equal(1, acc)
    assert.is_true(loss:item() < first_loss / 2)
  end)

  it("a small CNN learns 500 bundled digits to over 90% training accuracy", function()
    local images, labels = bundled_digits(500)
    local net = nn.Sequential{
      nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
      nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
      nn.Flatten(), nn.Linear(16 * 5 * 5, 10),
    }
    local loader = mg.data.DataLoader(mg.data.TensorDataset(images, labels), { batch_size = 50, shuffle = true })
    local opt = mg.optim.Adam(net:parameters(), { lr = 0.01 })
    local acc = 0
    for _ = 1, 12 do
      net:train()
      for x, y in loader:iter() do
        local loss = F.cross_entropy(net(x), y)
        opt:zero_grad()
        loss:backward()
        opt:step()
      end
      net:eval()
      acc = accuracy(net, images, labels)
      if acc > 0.9 then break end
    end
    assert.is_true(acc > 0.9, "training accuracy " .. acc)
  end)
end)
