-- Training through the engine, distributed or in one process, for the
-- dist specs. Writes each rank's results as JSON (see ../mpi.lua) and its
-- parameters to $MG_DIST_DIR/params_<rank>.safetensors (and, resuming,
-- those the checkpoint gave to loaded_<rank>.safetensors).
--
--   training.lua MODE [--dist] [--batch N] [--max-steps N] [--epochs N] [--resume]
-- MODE:
--   sgd    a small MLP trained with SGD (momentum), the data in a fixed
--          shuffled order: for the 2 x 64 = 1 x 128 equivalence
--   epochs an MLP with BatchNorm trained with Adam on 512 images, with
--          checkpoints every 3 steps in $MG_DIST_DIR/out_<rank>; records the
--          sample indices each rank saw and the epoch records
local mg = require "moongrad"
local nn = mg.nn

local mode = arg[1]
local o = { batch = 64, max_steps = nil, epochs = 1, dist = false, resume = false }
local i = 2
while i <= #arg do
  local a = arg[i]
  if a == "--dist" then o.dist = true
  elseif a == "--resume" then o.resume = true
  else
    o[a:sub(3):gsub("-", "_")] = math.tointeger(tonumber(arg[i + 1]))
    i = i + 1
  end
  i = i + 1
end
local dir = assert(os.getenv("MG_DIST_DIR"), "MG_DIST_DIR is not set")

local rank = 1
if o.dist then rank = mg.dist.init() end
mg.manual_seed(5 + rank) -- ranks start apart: the engine must make them equal

local ds = mg.data.mnist { split = "train", limit = 512, source = "sample" }
-- the dataset also tells which samples a batch holds
local Recorded = setmetatable({}, { __index = ds })
function Recorded.batch(_, idx)
  local b = ds:batch(idx)
  b.idx = idx
  return b
end
Recorded.fields = ds.fields
setmetatable(Recorded, { __index = ds, __len = function() return #ds end })

local model, opt
if mode == "sgd" then
  model = nn.Sequential { nn.Flatten(), nn.Linear(784, 16), nn.ReLU(), nn.Linear(16, 10) }
  opt = mg.optim.SGD(model:parameters(), { lr = 0.1, momentum = 0.9 })
else
  model = nn.Sequential { nn.Flatten(), nn.Linear(784, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10) }
  opt = mg.optim.Adam(model:parameters(), { lr = 1e-2 })
end

local loader = mg.data.DataLoader(Recorded, { batch_size = o.batch, shuffle = true, seed = 7 })
local seen = {}
local trainer = mg.train.Trainer {
  model = model, optimizer = opt, epochs = o.epochs, max_steps = o.max_steps, desc = "rank " .. rank,
  out = mode == "epochs" and (dir .. "/out_" .. rank) or nil,
  checkpoint = mode == "epochs" or nil, checkpoint_every = mode == "epochs" and 3 or nil, resume = o.resume,
}
local history = trainer:run(loader, function(batch, ctx)
  if o.resume and ctx.batch == 1 and #seen == 0 then -- the state the checkpoint gave
    mg.save(string.format("%s/loaded_%d.safetensors", dir, rank), model:state_dict())
  end
  for _, v in ipairs(batch.idx:totable()) do seen[#seen + 1] = v end
  local loss = mg.cross_entropy(model(batch.images), batch.labels)
  ctx:optimize(loss)
  -- the mean sample index over the epoch: (N + 1) / 2 when the record covers every rank's samples
  return { loss = loss, index = { batch.idx:float():sum(), batch.idx:size(1) }, n = batch.idx:size(1) }
end)

mg.save(string.format("%s/params_%d.safetensors", dir, rank), model:state_dict())
local f = assert(io.open(os.getenv("MG_DIST_RESULT"):format(rank), "w"))
f:write(mg.json.encode({
  rank = rank, world = trainer.world_size or 1, seen = seen, batches = #loader, history = history,
  step = trainer.step, is_main = trainer.is_main, distributed = trainer.dist ~= nil,
}))
f:close()
