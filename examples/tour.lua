-- A short tour of moongrad: tensors, broadcasting ops, autograd, no_grad,
-- gradients with respect to inputs, and a small model fitted by gradient
-- descent. Run it with `bin/moongrad examples/tour.lua` (or `make demo`).
local mg = require "moongrad"
mg.manual_seed(1)

local function section(title) print("\n== " .. title) end

section("tensors")
local t = mg.tensor{{1, 2, 3}, {4, 5, 6}}
print(t)
print("shape", table.concat(t:shape(), "x"), "dims", t:dim(), "elements", t:numel())
print("size of dim 2 (dims are 1-based):", t:size(2))
print("sum", t:sum():item(), "row sums", table.concat(t:sum(2):totable(), ", "))
print("zeros/ones/randn:", mg.zeros(2, 2):sum():item(), mg.ones(3):sum():item(), mg.randn(2, 3):dim())

section("ops broadcast")
local col = mg.tensor{{10}, {20}}        -- [2, 1]
print(t + col)                            -- [2, 3] + [2, 1] -> [2, 3]
print((t * 2 - 1):relu():mean():item())
print(t:matmul(t:t()))                    -- [2, 3] x [3, 2] -> [2, 2]

section("autograd")
local w = mg.tensor{1.0, -2.0, 3.0}:requires_grad_()
local loss = (w * w):sum()                -- d loss / d w = 2 w
loss:backward()
print("w.grad", table.concat(w.grad:totable(), ", "))

section("no_grad")
local y = mg.no_grad(function() return w * 10 end)
print("recorded inside no_grad:", y.requires_grad)

section("gradients with respect to inputs (mg.grad)")
local x = mg.tensor{0.5, -1.0, 2.0}:requires_grad_()
local gx = mg.grad((x:sigmoid()):sum(), {x})[1]
print("d sum(sigmoid(x)) / dx", gx)

section("fitting y = 3 x1 - 2 x2 + 1 (plus noise) by gradient descent")
local inputs = mg.randn(256, 2)
local targets = mg.linear(inputs, mg.tensor{{3, -2}}, mg.tensor{1}) + mg.randn(256, 1) * 0.1
local weight = mg.zeros(1, 2):requires_grad_()
local bias = mg.zeros(1):requires_grad_()
for step = 1, 200 do
  local pred = mg.linear(inputs, weight, bias)
  local mse = ((pred - targets) ^ 2):mean()
  weight.grad, bias.grad = nil, nil
  mse:backward()
  mg.no_grad(function()
    weight:sub_(weight.grad * 0.1)
    bias:sub_(bias.grad * 0.1)
  end)
  if step == 1 or step % 50 == 0 then print(string.format("step %3d  loss %.6f", step, mse:item())) end
end
local wv = weight:totable()[1]
print(string.format("learned y = %.3f x1 %+.3f x2 %+.3f", wv[1], wv[2], bias:item()))
