-- Square attack (Andriushchenko et al. 2020), L-inf: a random search that
-- only reads the model's outputs, so a model that hides or breaks its
-- gradients (gradient masking) does not fool it. It starts from vertical
-- stripes of +-eps and then, per query, proposes to set one random square
-- window of the image (every pixel of a channel) to x0 +- eps, keeping the
-- proposal when it lowers the margin z_y - max_{i != y} z_i. The window
-- covers a share p of the image that shrinks as the queries run out
-- (p_init, halved at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of
-- 10,000, scaled to the budget). An image is done as soon as it is
-- misclassified; the others use the whole budget.
local mg = require "moongrad"
local losses = require "moongrad.attack.losses"
local R = require "moongrad.attack.rows"

local M = {}

local KNOWN = { "eps", "norm", "queries", "p_init", "targeted", "target" }

-- The share of the image a window covers at query `it` of `budget`
-- (documented where mg.attack exports it as square_schedule).
function M.p_schedule(it, budget, p_init)
  local t = math.floor(it / budget * 10000)
  local cuts = { 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 }
  local p = p_init
  for _, c in ipairs(cuts) do
    if t > c then p = p / 2 end
  end
  return p
end

--- square(model, images, labels, opts) -> adversarial images, info
-- opts: eps (0.3), queries (5000: model evaluations per image, the first
-- one included), p_init (0.8), norm ("linf" only), targeted, target
-- (int64 [N], "random" or "least_likely": then the margin is
-- max_{i != t} z_i - z_t). Images must be [N, C, H, W].
-- Returns per image the point with the lowest margin found (inside the
-- ball and [0, 1]), and info = {queries = float [N], the model
-- evaluations each image used}. No gradient is ever computed.
function M.square(S, model, images, labels, opts)
  local o = S.check_args("square", model, images, labels, opts, KNOWN)
  S.check_pixels("square", images)
  if o.norm ~= "linf" then error("square: only norm \"linf\" is implemented, got " .. S.describe(o.norm), 2) end
  if images:dim() ~= 4 then
    error("square: images must be [N, C, H, W], got " .. S.describe(images), 2)
  end
  o.eps = o.eps or 0.3
  o.queries = o.queries or 5000
  if not S.is_count(o.queries, 1) then
    error("square: queries must be an integer >= 1, got " .. S.describe(o.queries), 2)
  end
  o.p_init = o.p_init or 0.8
  if type(o.p_init) ~= "number" or o.p_init <= 0 or o.p_init > 1 then
    error("square: p_init must be a number in (0, 1], got " .. S.describe(o.p_init), 2)
  end
  local n, c, h, w = table.unpack(images:shape())
  return S.attack_context(model, function()
    local target = S.resolve_target(model, images, labels, o)
    local function margin(x, y, t)
      local logits = model(x)
      if not mg.is_tensor(logits) or logits:dim() ~= 2 then
        error("square: the model must return logits [N, C]", 0)
      end
      return t and losses.margin_targeted(logits, t) or losses.margin(logits, y)
    end
    return mg.no_grad(function()
      local lo, hi = S.linf_bounds(images, o.eps)
      -- vertical stripes: one sign per image, channel and column
      local stripes = mg.rand(n, c, 1, w):gt(0.5) * 2 - 1
      local best = mg.minimum(mg.maximum(images + stripes * o.eps, lo), hi)
      local best_margin = margin(best, labels, target)
      local used = {} -- model evaluations per image, filled in as images finish
      -- the working set: images not fooled yet, with their own copies
      local rows = R.where_on(best_margin:ge(0))
      local initially_fooled = {}
      for i, v in ipairs(best_margin:lt(0):totable()) do initially_fooled[i] = v ~= 0 end
      local function take(t) return t:index_select(1, mg.tensor(rows, { dtype = "int64" })) end
      local bw, mw, low, hiw, yw, tw
      local function gather_working()
        bw, mw, low, hiw, yw = take(best), take(best_margin), take(lo), take(hi), take(labels)
        tw = target and take(target)
      end
      if #rows > 0 then gather_working() end
      local row_index = mg.arange(1, h + 1):reshape(1, 1, h, 1)
      local col_index = mg.arange(1, w + 1):reshape(1, 1, 1, w)
      for it = 1, o.queries - 1 do
        if #rows == 0 then break end
        local k = #rows
        local p = M.p_schedule(it, o.queries, o.p_init)
        local s = math.max(math.min(math.floor(math.sqrt(p * h * w) + 0.5), h, w), 1)
        -- a window per image: rows top..top+s-1, columns left..left+s-1 (1-based)
        local top = mg.randint(1, h - s + 2, { k, 1, 1, 1 }):float()
        local left = mg.randint(1, w - s + 2, { k, 1, 1, 1 }):float()
        local window = row_index:ge(top) * row_index:lt(top + s) * col_index:ge(left) * col_index:lt(left + s)
        local sign = mg.rand(k, c, 1, 1):gt(0.5) * 2 - 1
        local function propose(sg)
          return mg.minimum(mg.maximum(bw + window * sg * (2 * o.eps), low), hiw)
        end
        local cand = propose(sign)
        -- a proposal that changes nothing is wasted: take the other sign
        local same = (cand - bw):abs():reshape(k, -1):sum(2):eq(0)
        if same:sum():item() > 0 then
          sign = sign * (1 - same:reshape(k, 1, 1, 1) * 2)
          cand = propose(sign)
        end
        local m = margin(cand, yw, tw)
        local better = m:lt(mw)
        bw = mg.where(better:reshape(k, 1, 1, 1), cand, bw)
        mw = mg.where(better, m, mw)
        -- images fooled now leave the working set
        local fooled = mw:lt(0)
        if fooled:sum():item() > 0 then
          for j, v in ipairs(fooled:totable()) do if v ~= 0 then used[rows[j]] = it + 1 end end
          best = R.put(best, bw, rows, n)
          best_margin = R.put(best_margin, mw, rows, n)
          rows = R.where_on(best_margin:ge(0))
          if #rows > 0 then gather_working() end
        end
      end
      if #rows > 0 then best = R.put(best, bw, rows, n) end
      for i = 1, n do used[i] = used[i] or (initially_fooled[i] and 1 or o.queries) end
      return best, { queries = mg.tensor(used) }
    end)
  end)
end

return M
