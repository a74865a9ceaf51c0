--- Progress display for training loops.
-- @module moongrad.train
local mg = require "moongrad"
local class = require "moongrad.class"

--- Progress display for training loops. On a terminal: one line redrawn
-- in place (bar, count, metrics, items/s, time left). Otherwise (CI logs,
-- files): a plain line every `interval` seconds and one at the end. Output
-- goes to stderr, so stdout stays free for results.
-- @type Progress
-- @usage local p = mg.train.Progress{total = #loader, desc = "epoch 1/10", unit = "img"}
-- for images, labels in loader:iter() do p:update(1, images:size(1), {loss = 0.3}) end
-- p:close()
local Progress = class("train.Progress")

local function format_time(s)
  if s ~= s or s == math.huge or s < 0 then return "?" end
  s = math.floor(s + 0.5)
  if s >= 3600 then return string.format("%d:%02d:%02d", s // 3600, s % 3600 // 60, s % 60) end
  return string.format("%d:%02d", s // 60, s % 60)
end

local function format_metrics(metrics)
  if not metrics then return "" end
  local keys = {}
  for k, v in pairs(metrics) do if type(v) == "number" then keys[#keys + 1] = k end end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    local v = metrics[k]
    local s = (math.type(v) == "integer" or math.abs(v) >= 1000) and string.format("%d", math.floor(v + 0.5))
      or string.format("%.4f", v)
    parts[#parts + 1] = k .. " " .. s
  end
  return table.concat(parts, "  ")
end

--- train.Progress(opts): a new display.
-- @tparam table opts `{total = batches, desc = "epoch 1/10", unit = "img", interval = 10
--   (seconds between plain lines), tty = auto, out = io.stderr}`
function Progress:init(opts)
  opts = opts or {}
  self.total = opts.total
  self.desc = opts.desc or ""
  self.unit = opts.unit or "it"
  self.out = opts.out or io.stderr
  if opts.tty == nil then self.tty = mg.isatty(2) else self.tty = opts.tty end
  self.interval = opts.interval or (self.tty and 0.1 or 10)
  self.start = mg.clock()
  self.last_draw = -math.huge
  self.done, self.items = 0, 0
  self.width = tonumber(os.getenv("COLUMNS") or "") or 100
end

--- The text of the current line.
-- @bool final the closing line (with the elapsed time)
-- @treturn string
function Progress:line(final)
  local elapsed = mg.clock() - self.start
  local rate = elapsed > 0 and self.items / elapsed or 0
  local parts = { self.desc }
  if self.total and self.total > 0 then
    local frac = math.min(self.done / self.total, 1)
    if self.tty then
      local n = 20
      local filled = math.floor(frac * n + 0.5)
      parts[#parts + 1] = "[" .. string.rep("=", filled) .. string.rep(" ", n - filled) .. "]"
    end
    parts[#parts + 1] = string.format("%d/%d", self.done, self.total)
  else
    parts[#parts + 1] = tostring(self.done)
  end
  local m = format_metrics(self.metrics)
  if m ~= "" then parts[#parts + 1] = m end
  parts[#parts + 1] = string.format("%.0f %s/s", rate, self.unit)
  if final then
    parts[#parts + 1] = format_time(elapsed)
  elseif self.total and self.done > 0 then
    parts[#parts + 1] = format_time(elapsed / self.done * (self.total - self.done)) .. " left"
  end
  return table.concat(parts, "  ")
end

--- Advances and redraws when due.
-- @int n batches done since the last update
-- @int[opt] items items done since the last update
-- @tparam[opt] table metrics name -> number, shown as they are
function Progress:update(n, items, metrics)
  self.done = self.done + (n or 1)
  self.items = self.items + (items or 0)
  if metrics then self.metrics = metrics end
  local now = mg.clock()
  if now - self.last_draw < self.interval then return end
  self.last_draw = now
  local text = self:line(false)
  if self.tty then
    if #text > self.width - 1 then text = text:sub(1, self.width - 1) end
    self.out:write("\r", text, string.rep(" ", math.max(0, self.width - 1 - #text)))
  else
    self.out:write(text, "\n")
  end
  self.out:flush()
end

--- Draws the final line (with the elapsed time).
-- @tparam[opt] table metrics
function Progress:close(metrics)
  if metrics then self.metrics = metrics end
  local text = self:line(true)
  if self.tty then
    self.out:write("\r", text, string.rep(" ", math.max(0, self.width - 1 - #text)), "\n")
  else
    self.out:write(text, "\n")
  end
  self.out:flush()
  return mg.clock() - self.start
end

return Progress
