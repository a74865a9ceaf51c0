--- Metrics as JSON lines.
-- @module moongrad.train
local mg = require "moongrad"
local class = require "moongrad.class"
local json = require "moongrad.json"

--- Metrics as JSON lines: one JSON object per line, appended and flushed as
-- training goes, so runs can be compared (and plotted) by scripts. Numbers
-- are written rounded to what they mean: integers exactly, floats to 4
-- significant digits (0.806, not 0.8060000538825989; see mg.json.encode)
-- unless the log is told otherwise.
-- @type MetricsLog
-- @usage local log = mg.train.MetricsLog("out/run/metrics.jsonl")
-- log:write{epoch = 1, loss = 0.42}
-- log:close()
-- local curve = mg.train.MetricsLog.series(mg.train.MetricsLog.read("out/run/metrics.jsonl"), "loss")
local MetricsLog = class("train.MetricsLog")

--- train.MetricsLog(path [, opts]): opens the log, creating its folder if
-- needed. A log starts fresh (an older file is replaced) unless append is
-- true: a resumed run continues its log, a new run does not zig-zag back
-- to epoch 1 in the same file.
-- @string path
-- @tparam[opt] table opts `{append = false, digits = 4, exact = {}}`: digits, the significant
--   digits of floats; exact, the fields written exactly
function MetricsLog:init(path, opts)
  if type(path) ~= "string" or path == "" then error("MetricsLog: expected a file path, got " .. tostring(path), 3) end
  opts = mg.check_options("MetricsLog", opts, { "append", "digits", "exact" })
  self.encode_opts = { digits = opts.digits or 4, exact = opts.exact }
  json.encode({}, self.encode_opts) -- checks them
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then mg.mkdir(dir) end
  local f, err = io.open(path, opts.append == true and "a" or "w")
  if not f then error("MetricsLog: cannot open " .. path .. ": " .. tostring(err), 3) end
  self.path, self.file, self.start = path, f, mg.clock()
end

--- Appends a record, with `time` (seconds since the log was opened) unless
-- it has one.
-- @tparam table record
-- @treturn table record
function MetricsLog:write(record)
  if type(record) ~= "table" then error("MetricsLog:write expects a table, got " .. type(record), 2) end
  if record.time == nil then record.time = math.floor((mg.clock() - self.start) * 1000 + 0.5) / 1000 end
  self.file:write(json.encode(record, self.encode_opts), "\n")
  self.file:flush()
  return record
end

--- Closes the file.
function MetricsLog:close()
  if self.file then self.file:close() end
  self.file = nil
end

--- The records of a log file (for plotting or comparing runs).
-- @string path
-- @treturn {table,...}
function MetricsLog.read(path)
  local f, err = io.open(path, "r")
  if not f then error("MetricsLog.read: cannot open " .. path .. ": " .. tostring(err), 2) end
  local records, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line:match("%S") then
      local ok, rec = pcall(json.decode, line)
      if not ok then
        f:close()
        error(string.format("MetricsLog.read: %s line %d: %s", path, n, rec), 2)
      end
      records[#records + 1] = rec
    end
  end
  f:close()
  return records
end

--- One metric of the records that have it, for mg.viz.plot.
-- @tparam {table,...} records
-- @string key
-- @string[opt] x_key default: the record's position
-- @treturn table `{x = {...}, y = {...}}`
function MetricsLog.series(records, key, x_key)
  local xs, ys = {}, {}
  for i, r in ipairs(records) do
    if type(r[key]) == "number" then
      xs[#xs + 1] = x_key and r[x_key] or i
      ys[#ys + 1] = r[key]
    end
  end
  return { name = key, x = xs, y = ys }
end

return MetricsLog
