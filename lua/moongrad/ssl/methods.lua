--- Joint-embedding pretext tasks: SimCLR (contrastive: NT-Xent over two
-- views, negatives from the batch), Barlow Twins and BYOL (no negatives).
-- Each is an nn.Module around an encoder (`trunk`) with
-- `method:loss(v1, v2)` (the loss of two views of the same images),
-- `method:trainable_parameters()` (what the optimizer updates) and
-- `method:after_step(progress)` (work after each optimizer step: BYOL's
-- momentum target; nothing for the others). Both views go through the
-- network as one batch of 2B, so batch norm layers see both views and a
-- step is one forward and one backward pass.
-- @module moongrad.ssl
-- @alias M
-- @usage local simclr = mg.ssl.SimCLR(mg.models.conv_trunk(1))
-- local augment = mg.data.transforms.contrastive()
-- local loss = simclr:loss(augment(images), augment(images))
local mg = require "moongrad"
local nn = mg.nn

local M = {}

local check_opts = mg.check_options

local function check_views(op, v1, v2)
  if not mg.is_tensor(v1) or not mg.is_tensor(v2) then
    error(op .. ": expected two Tensor views, got " .. type(v1) .. " and " .. type(v2), 3)
  end
  if v1:dim() < 1 or table.concat(v1:shape(), ",") ~= table.concat(v2:shape(), ",") then
    error(string.format("%s: the two views must have the same shape, got [%s] and [%s]", op,
      table.concat(v1:shape(), ", "), table.concat(v2:shape(), ", ")), 3)
  end
  return v1:size(1)
end

--- SimCLR's loss (the fused core op mg.nt_xent): the mean over the 2N
-- anchors of the cross-entropy of its positive (the other view) against
-- the 2(N - 1) negatives, on cosine similarities over the temperature.
-- @tparam Tensor z1 [N, D] the projections of the first views
-- @tparam Tensor z2 [N, D] those of the second views
-- @tparam[opt] table opts `{temperature = 0.5}`
-- @treturn Tensor 0-dim
function M.nt_xent(z1, z2, opts)
  opts = check_opts("nt_xent", opts, { temperature = true })
  return mg.nt_xent(z1, z2, opts)
end

--- Barlow Twins' loss: each feature standardised over the batch, C =
-- z1^T z2 / N (the cross-correlation, [D, D]), then sum_i (1 - C_ii)^2 +
-- lambda sum_{i ~= j} C_ij^2.
-- @tparam Tensor z1 [N, D], N >= 2
-- @tparam Tensor z2 [N, D]
-- @tparam[opt] table opts `{lambda = 5e-3}`
-- @treturn Tensor 0-dim
function M.barlow_twins_loss(z1, z2, opts)
  opts = check_opts("barlow_twins_loss", opts, { lambda = true })
  local n = check_views("barlow_twins_loss", z1, z2)
  if z1:dim() ~= 2 or n < 2 then
    error(string.format("barlow_twins_loss: expected [N, D] with N >= 2, got [%s]", table.concat(z1:shape(), ", ")), 2)
  end
  local lambda = opts.lambda or 5e-3
  if type(lambda) ~= "number" or lambda < 0 then error("barlow_twins_loss: lambda must be a number >= 0", 2) end
  local function standardise(z) return mg.batch_norm(z, nil, nil, nil, nil, { training = true }) end
  local c = mg.matmul(standardise(z1):t(), standardise(z2)) / n
  local eye = mg.eye(c:size(1))
  local on = ((1 - c) * eye):pow(2):sum()
  local off = (c * (1 - eye)):pow(2):sum()
  return on + off * lambda
end

--- BYOL's loss: the mean over rows of 2 - 2 cos(p_i, z_i); no gradient
-- reaches the targets z.
-- @tparam Tensor p [N, D] the predictions
-- @tparam Tensor z [N, D] the targets
-- @treturn Tensor 0-dim
function M.byol_loss(p, z)
  check_views("byol_loss", p, z)
  local pn = nn.functional.normalize(p, { dim = 2 })
  local zn = nn.functional.normalize(z:detach(), { dim = 2 })
  return (2 - 2 * (pn * zn):sum(2)):mean()
end

--- A projection head: Linear-BatchNorm-ReLU (layers - 1 times), then a
-- Linear to `out`, then a BatchNorm1d without affine when final_bn.
-- @int in_features
-- @int hidden
-- @int out
-- @tparam[opt] table opts `{layers = 2, final_bn = false}`
-- @treturn Module
function M.projection_head(in_features, hidden, out, opts)
  opts = check_opts("projection_head", opts, { layers = true, final_bn = true })
  local layers = opts.layers or 2
  if math.type(layers) ~= "integer" or layers < 1 then error("projection_head: layers must be an integer >= 1", 2) end
  local list, width = {}, in_features
  for _ = 1, layers - 1 do
    list[#list + 1] = nn.Linear(width, hidden)
    list[#list + 1] = nn.BatchNorm1d(hidden)
    list[#list + 1] = nn.ReLU()
    width = hidden
  end
  list[#list + 1] = nn.Linear(width, out)
  if opts.final_bn then list[#list + 1] = nn.BatchNorm1d(out, { affine = false }) end
  return nn.Sequential(list)
end

-- Both views through `net` as one batch; returns the two halves.
local function both(net, v1, v2)
  local b = v1:size(1)
  local z = net(mg.cat({ v1, v2 }, 1))
  return z:narrow(1, 1, b), z:narrow(1, b + 1, b)
end

-- ---- SimCLR ----------------------------------------------------------------------

--- SimCLR: an encoder and a projection head; the loss is NT-Xent of the
-- two views' projections. Fields trunk, head, temperature.
-- @type SimCLR
local SimCLR = nn.Module:extend("ssl.SimCLR")
M.SimCLR = SimCLR

--- ssl.SimCLR(trunk, features [, opts]): a new method.
-- @tparam Module trunk the encoder
-- @int features its output size
-- @tparam[opt] table opts `{hidden = 512, proj_dim = 128, temperature = 0.5}`
function SimCLR:init(trunk, features, opts)
  nn.Module.init(self)
  opts = check_opts("SimCLR", opts, { hidden = true, proj_dim = true, temperature = true })
  self.trunk = trunk
  self.head = M.projection_head(features, opts.hidden or 512, opts.proj_dim or 128)
  self.temperature = opts.temperature or 0.5
end

function SimCLR:forward(x) return self.head(self.trunk(x)) end

--- The NT-Xent loss of two views of the same images.
-- @tparam Tensor v1 [B, ...]
-- @tparam Tensor v2 [B, ...]
-- @treturn Tensor 0-dim
function SimCLR:loss(v1, v2)
  check_views("SimCLR:loss", v1, v2)
  local z1, z2 = both(self, v1, v2)
  return mg.nt_xent(z1, z2, { temperature = self.temperature })
end

--- What the optimizer updates: every parameter.
-- @treturn {Tensor,...}
function SimCLR:trainable_parameters() return self:parameters() end

--- Nothing to do after a step (the methods' common interface).
function SimCLR:after_step() end

-- ---- Barlow Twins --------------------------------------------------------------------

--- Barlow Twins: an encoder and a 3-layer projector; the loss is
-- barlow_twins_loss of the two views' projections (no negatives).
-- Fields trunk, head, lambda.
-- @type BarlowTwins
local BarlowTwins = nn.Module:extend("ssl.BarlowTwins")
M.BarlowTwins = BarlowTwins

--- ssl.BarlowTwins(trunk, features [, opts]): a new method.
-- @tparam Module trunk the encoder
-- @int features its output size
-- @tparam[opt] table opts `{hidden = 1024, proj_dim = 1024, lambda = 5e-3}`
function BarlowTwins:init(trunk, features, opts)
  nn.Module.init(self)
  opts = check_opts("BarlowTwins", opts, { hidden = true, proj_dim = true, lambda = true })
  self.trunk = trunk
  self.head = M.projection_head(features, opts.hidden or 1024, opts.proj_dim or 1024, { layers = 3 })
  self.lambda = opts.lambda or 5e-3
end

function BarlowTwins:forward(x) return self.head(self.trunk(x)) end

--- The Barlow Twins loss of two views of the same images.
-- @tparam Tensor v1 [B, ...], B >= 2
-- @tparam Tensor v2 [B, ...]
-- @treturn Tensor 0-dim
function BarlowTwins:loss(v1, v2)
  check_views("BarlowTwins:loss", v1, v2)
  local z1, z2 = both(self, v1, v2)
  return M.barlow_twins_loss(z1, z2, { lambda = self.lambda })
end

--- What the optimizer updates: every parameter.
-- @treturn {Tensor,...}
function BarlowTwins:trainable_parameters() return self:parameters() end

--- Nothing to do after a step (the methods' common interface).
function BarlowTwins:after_step() end

-- ---- BYOL ------------------------------------------------------------------------------

-- trunk then head (a child module pair).
local Chain = nn.Module:extend("ssl.Chain")

function Chain:init(trunk, head)
  nn.Module.init(self)
  self.trunk, self.head = trunk, head
end

function Chain:forward(x) return self.head(self.trunk(x)) end

--- BYOL: an online network (encoder, projector, predictor) learns to
-- predict a target network's projection of the other view; the target is
-- the online encoder and projector averaged over the steps (momentum from
-- `momentum` rising to 1 on a cosine over training) and gets no gradient.
-- Fields online, predictor, target, trunk (the online encoder).
-- @type BYOL
local BYOL = nn.Module:extend("ssl.BYOL")
M.BYOL = BYOL

--- ssl.BYOL(make_trunk, features [, opts]): a new method.
-- @tparam function make_trunk returns a fresh encoder (called twice; the target starts as a copy)
-- @int features the encoder's output size
-- @tparam[opt] table opts `{hidden = 512, proj_dim = 128, momentum = 0.99}`
function BYOL:init(make_trunk, features, opts)
  nn.Module.init(self)
  opts = check_opts("BYOL", opts, { hidden = true, proj_dim = true, momentum = true })
  if type(make_trunk) ~= "function" then error("BYOL: make_trunk must be a function returning an encoder", 2) end
  local hidden, proj = opts.hidden or 512, opts.proj_dim or 128
  self.online = Chain(make_trunk(), M.projection_head(features, hidden, proj))
  self.predictor = M.projection_head(proj, hidden, proj)
  self.target = Chain(make_trunk(), M.projection_head(features, hidden, proj))
  self.target:load_state_dict(self.online:state_dict())
  self.target:requires_grad_(false)
  self.trunk = self.online.trunk
  self.base_momentum = opts.momentum or 0.99
  self.momentum = self.base_momentum
end

function BYOL:forward(x) return self.online(x) end

--- The symmetric BYOL loss: each view's prediction against the target's
-- projection of the other view, the two terms summed.
-- @tparam Tensor v1 [B, ...]
-- @tparam Tensor v2 [B, ...]
-- @treturn Tensor 0-dim
function BYOL:loss(v1, v2)
  check_views("BYOL:loss", v1, v2)
  local p = self.predictor(self.online(mg.cat({ v1, v2 }, 1)))
  -- swapped: each view predicts the target's projection of the other
  local z = mg.no_grad(function() return self.target(mg.cat({ v2, v1 }, 1)) end)
  return M.byol_loss(p, z) * 2 -- the symmetric loss: both views' terms summed
end

--- What the optimizer updates: the online network and the predictor.
-- @treturn {Tensor,...}
function BYOL:trainable_parameters()
  local list = self.online:parameters()
  for _, p in ipairs(self.predictor:parameters()) do list[#list + 1] = p end
  return list
end

--- Moves the target towards the online network: target = m target +
-- (1 - m) online with m = 1 - (1 - momentum) (cos(pi progress) + 1) / 2;
-- batch-norm statistics copied.
-- @number progress the fraction of training done, in [0, 1]
function BYOL:after_step(progress)
  local m = 1 - (1 - self.base_momentum) * (math.cos(math.pi * (progress or 0)) + 1) / 2
  self.momentum = m
  mg.no_grad(function()
    local online = self.online:parameters()
    for i, t in ipairs(self.target:parameters()) do
      t:mul_(m)
      t:add_(online[i], 1 - m)
    end
    local ob = self.online:buffers()
    for i, t in ipairs(self.target:buffers()) do t:copy_(ob[i]) end
  end)
end

return M
