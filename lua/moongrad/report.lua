--- Comparing runs: one self-contained HTML page (`moongrad report out/...`)
-- with every run's metric curves overlaid as inline SVG, its final figures
-- side by side, and its pictures. The page needs nothing else: no network,
-- no JavaScript; the pictures are inlined as data URIs, so the file can be
-- mailed or archived alone.
--
-- A run is a folder holding a metrics log (metrics.jsonl, one JSON object
-- per line, as mg.train writes them) or the examples' result.json (their
-- last JSON line, as mg.cli.result writes it), and its PNG pictures. A
-- folder that is not a run is searched for runs (three levels down), so
-- `moongrad report out` compares everything under out/.
--
-- Charts: one per metric (and per phase, when the records carry a `phase`
-- tag), x the epoch (else the step, else the record's position), one line
-- per run in the run's colour. Figures: the numbers and short strings of
-- result.json, flattened (`attacks.normal.clean`), else the last record of
-- each phase.
-- @module moongrad.report
-- @usage -- from the shell: bin/moongrad report out/rotnet out/rotnet_fashion -o compare.html
-- mg.report.write({"out/rotnet", "out/gan"}, "compare.html")
local json = require "moongrad.json"

local M = {}

local PALETTE = {
  "#1f5fbf", "#e0661a", "#2a9d4b", "#c23b3b", "#7b52ab", "#8c5a3c", "#d45c9e", "#6b6b6b", "#a3a31f", "#1fa3b5",
}
-- record fields that place a record rather than measure something
local PLACE = { epoch = true, step = true, time = true }

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function lines_of(cmd)
  local out = {}
  local p = io.popen(cmd)
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

local function is_dir(path) return os.execute("test -d " .. q(path)) == true end
local function is_file(path) return os.execute("test -f " .. q(path)) == true end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function escape(s)
  return (tostring(s):gsub("[&<>\"]", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;" }))
end

-- ---- finding and reading runs ----------------------------------------------------

local function is_run(dir) return is_file(dir .. "/metrics.jsonl") or is_file(dir .. "/result.json") end

--- The run folders named by paths: each path that is a run, and the runs
-- found below each path that is not (three levels down), in order.
-- @tparam {string,...} paths folders
-- @treturn {string,...} the run folders
function M.find_runs(paths)
  local runs, seen = {}, {}
  local function add(dir)
    dir = dir:gsub("/+$", "")
    if not seen[dir] then seen[dir] = true; runs[#runs + 1] = dir end
  end
  for _, p in ipairs(paths) do
    if not is_dir(p) then error("report: " .. p .. " is not a folder", 0) end
    if is_run(p) then
      add(p)
    else
      local found = lines_of("find " .. q(p) .. " -mindepth 1 -maxdepth 3"
        .. " \\( -name metrics.jsonl -o -name result.json \\) -type f 2>/dev/null | sort")
      for _, f in ipairs(found) do add(f:match("^(.*)/[^/]+$")) end
    end
  end
  return runs
end

-- The records of a metrics log (lines that are not JSON objects are skipped).
local function read_records(path)
  local records = {}
  local f = io.open(path, "r")
  if not f then return records end
  for line in f:lines() do
    local ok, r = pcall(json.decode, line)
    if ok and type(r) == "table" and not r[1] then records[#records + 1] = r end
  end
  f:close()
  return records
end

--- Reads a run folder.
-- @string dir
-- @treturn table `{dir, records = {...}, result = table or nil, pictures = {paths}}`
function M.read_run(dir)
  local run = { dir = dir, records = read_records(dir .. "/metrics.jsonl") }
  local text = read_all(dir .. "/result.json")
  if text then
    local ok, r = pcall(json.decode, (text:gsub("%s+$", "")))
    if ok and type(r) == "table" then run.result = r end
  end
  run.pictures = lines_of("find " .. q(dir) .. " -maxdepth 1 -name '*.png' -type f 2>/dev/null | sort")
  return run
end

-- Short names for runs: their paths without the part all of them share.
local function run_names(runs)
  local parts = {}
  for i, r in ipairs(runs) do
    parts[i] = {}
    for piece in r.dir:gmatch("[^/]+") do parts[i][#parts[i] + 1] = piece end
  end
  local common = #runs > 1 and math.huge or 0
  for i = 2, #runs do
    local k = 0
    while parts[1][k + 1] and parts[i][k + 1] == parts[1][k + 1] do k = k + 1 end
    common = math.min(common, k)
  end
  for i, r in ipairs(runs) do
    local keep = math.min(common, #parts[i] - 1)
    r.name = table.concat(parts[i], "/", keep + 1)
    if r.name == "" then r.name = r.dir end
  end
end

-- ---- metrics as series ------------------------------------------------------------

local function is_number(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

-- {key = {phase, metric}, ...} in order, and per run series[key] = {x, y}.
local function collect_series(runs)
  local keys, known = {}, {}
  for _, run in ipairs(runs) do
    run.series = {}
    local count = {}
    for _, r in ipairs(run.records) do
      local phase = type(r.phase) == "string" and r.phase or ""
      count[phase] = (count[phase] or 0) + 1
      local x = is_number(r.epoch) and r.epoch or is_number(r.step) and r.step or count[phase]
      local xname = is_number(r.epoch) and "epoch" or is_number(r.step) and "step" or "record"
      for k, v in pairs(r) do
        if is_number(v) and not PLACE[k] then
          local key = phase == "" and k or (phase .. ": " .. k)
          if not known[key] then
            known[key] = { key = key, phase = phase, metric = k, xname = xname }
            keys[#keys + 1] = known[key]
          end
          local s = run.series[key]
          if not s then s = { x = {}, y = {} }; run.series[key] = s end
          s.x[#s.x + 1], s.y[#s.y + 1] = x, v
        end
      end
    end
  end
  table.sort(keys, function(a, b)
    if a.phase ~= b.phase then return a.phase < b.phase end
    return a.metric < b.metric
  end)
  return keys
end

-- ---- SVG charts --------------------------------------------------------------------

local function fmt(v)
  if math.type(v) == "integer" then return tostring(v) end
  return (string.format("%.4g", v))
end

-- Nice ticks over [lo, hi] (about n of them; whole numbers only when
-- integer is true).
local function ticks(lo, hi, n, integer)
  if hi <= lo then hi = lo + (lo == 0 and 1 or math.abs(lo) * 0.1) end
  local raw = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log(raw, 10))
  local step = mag
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    if m * mag >= raw and not (integer and (m * mag) % 1 ~= 0) then step = m * mag; break end
  end
  if integer and step < 1 then step = 1 end
  lo, hi = math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step
  local out = {}
  for k = 0, 1000 do
    local v = lo + k * step
    if v > hi + step * 1e-9 then break end
    out[#out + 1] = math.abs(v) < step * 1e-9 and 0 or v
  end
  return out, lo, hi
end

-- One chart: the series of key in every run that has it.
local function chart(key, runs)
  local W, H, L, R, T, B = 460, 250, 58, 12, 28, 40
  local xs, ys = {}, {}
  for _, run in ipairs(runs) do
    local s = run.series[key.key]
    if s then
      for i = 1, #s.x do xs[#xs + 1], ys[#ys + 1] = s.x[i], s.y[i] end
    end
  end
  local xmin, xmax = math.min(table.unpack(xs)), math.max(table.unpack(xs))
  local ymin, ymax = math.min(table.unpack(ys)), math.max(table.unpack(ys))
  local whole = true
  for _, x in ipairs(xs) do whole = whole and x % 1 == 0 end
  local xt, x0, x1 = ticks(xmin, xmax, 6, whole)
  local yt, y0, y1 = ticks(ymin, ymax, 5)
  local function px(x) return L + (x - x0) / (x1 - x0) * (W - L - R) end
  local function py(y) return H - B - (y - y0) / (y1 - y0) * (H - T - B) end
  local o = {}
  o[#o + 1] = string.format('<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
    .. 'viewBox="0 0 %d %d" role="img" aria-label="%s">', W, H, W, H, escape(key.key))
  o[#o + 1] = string.format('<text x="%d" y="18" class="title">%s</text>', L, escape(key.key))
  for _, v in ipairs(yt) do
    local y = py(v)
    o[#o + 1] = string.format('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>', L, W - R, y, y)
    o[#o + 1] = string.format('<text x="%d" y="%.1f" class="tick" text-anchor="end">%s</text>', L - 6, y + 4,
      escape(fmt(v)))
  end
  for _, v in ipairs(xt) do
    local x = px(v)
    o[#o + 1] = string.format('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" class="grid"/>', x, x, T, H - B)
    o[#o + 1] = string.format('<text x="%.1f" y="%d" class="tick" text-anchor="middle">%s</text>', x, H - B + 16,
      escape(fmt(v)))
  end
  o[#o + 1] = string.format('<rect x="%d" y="%d" width="%d" height="%d" class="frame"/>', L, T, W - L - R, H - T - B)
  o[#o + 1] = string.format('<text x="%d" y="%d" class="axis" text-anchor="middle">%s</text>', (L + W - R) // 2,
    H - 6, key.xname)
  for i, run in ipairs(runs) do
    local s = run.series[key.key]
    if s then
      local colour = PALETTE[(i - 1) % #PALETTE + 1]
      local pts = {}
      for k = 1, #s.x do pts[k] = string.format("%.1f,%.1f", px(s.x[k]), py(s.y[k])) end
      if #pts > 1 then
        o[#o + 1] = string.format('<polyline points="%s" stroke="%s" class="line"><title>%s</title></polyline>',
          table.concat(pts, " "), colour, escape(run.name))
      end
      for k = 1, #s.x do
        o[#o + 1] = string.format('<circle cx="%.1f" cy="%.1f" r="%s" fill="%s"><title>%s: %s = %s at %s %s</title>'
          .. '</circle>', px(s.x[k]), py(s.y[k]), #pts > 1 and "2" or "3.5", colour, escape(run.name),
          escape(key.metric), escape(fmt(s.y[k])), escape(key.xname), escape(fmt(s.x[k])))
      end
    end
  end
  o[#o + 1] = "</svg>"
  return table.concat(o, "\n")
end

-- ---- figures -------------------------------------------------------------------------

-- The scalar fields of t flattened to dotted names (lists of tables by
-- position, `methods.2.clean`), in name order.
local function flatten(t, prefix, out, depth)
  for k, v in pairs(t) do
    local name = prefix .. tostring(k)
    if type(v) == "table" then
      if depth < 3 and k ~= "pictures" then flatten(v, name .. ".", out, depth + 1) end
    elseif type(v) == "number" or type(v) == "boolean" or (type(v) == "string" and #v <= 40) then
      out[name] = v
    end
  end
  return out
end

local function figures(run)
  if run.result then return flatten(run.result, "", {}, 0) end
  local last, out = {}, {}
  for _, r in ipairs(run.records) do last[type(r.phase) == "string" and r.phase or ""] = r end
  for phase, r in pairs(last) do
    for k, v in pairs(r) do
      if k ~= "phase" and k ~= "time" and (type(v) == "number" or type(v) == "string") then
        out[(phase == "" and "" or phase .. ".") .. k] = v
      end
    end
  end
  return out
end

local function natural_less(a, b)
  local function key(s) return (s:gsub("%d+", function(d) return string.format("%08d", tonumber(d)) end)) end
  return key(a) < key(b)
end

local function figures_table(runs)
  local names, known, values = {}, {}, {}
  for i, run in ipairs(runs) do
    values[i] = figures(run)
    for k in pairs(values[i]) do
      if not known[k] then known[k] = true; names[#names + 1] = k end
    end
  end
  table.sort(names, natural_less)
  if #names == 0 then return "<p>No figures (no result.json and no metrics).</p>" end
  local o = { '<table class="figures"><thead><tr><th>figure</th>' }
  for i, run in ipairs(runs) do
    o[#o + 1] = string.format('<th><span class="swatch" style="background:%s"></span>%s</th>',
      PALETTE[(i - 1) % #PALETTE + 1], escape(run.name))
  end
  o[#o + 1] = "</tr></thead><tbody>"
  for _, name in ipairs(names) do
    local row = { "<tr><td>" .. escape(name) .. "</td>" }
    local distinct, first = false, nil
    for i = 1, #runs do
      local v = values[i][name]
      if i == 1 then first = v elseif v ~= first then distinct = true end
      row[#row + 1] = "<td>" .. (v == nil and "" or escape(type(v) == "number" and fmt(v) or tostring(v))) .. "</td>"
    end
    row[1] = distinct and row[1]:gsub("^<tr>", '<tr class="differs">') or row[1]
    o[#o + 1] = table.concat(row) .. "</tr>"
  end
  o[#o + 1] = "</tbody></table>"
  return table.concat(o, "\n")
end

-- ---- pictures ------------------------------------------------------------------------

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1, c2 = n >> 18 & 63, n >> 12 & 63
    local c3, c4 = n >> 6 & 63, n & 63
    out[#out + 1] = B64:sub(c1 + 1, c1 + 1) .. B64:sub(c2 + 1, c2 + 1)
      .. (b and B64:sub(c3 + 1, c3 + 1) or "=") .. (c and B64:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local function pictures(run)
  if #run.pictures == 0 then return "" end
  local o = { '<div class="pictures">' }
  for _, path in ipairs(run.pictures) do
    local data = read_all(path)
    if data then
      o[#o + 1] = string.format('<figure><img src="data:image/png;base64,%s" alt="%s"><figcaption>%s</figcaption>'
        .. '</figure>', base64(data), escape(path:match("[^/]+$")), escape(path:match("[^/]+$")))
    end
  end
  o[#o + 1] = "</div>"
  return table.concat(o, "\n")
end

-- ---- the page ------------------------------------------------------------------------

local CSS = [[
body { font-family: sans-serif; margin: 24px; color: #1a1a1a; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
.legend span { margin-right: 18px; white-space: nowrap; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px; vertical-align: -1px; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
.chart { border: 1px solid #e6e6e6; background: #fff; }
.chart .title { font-size: 13px; font-weight: bold; fill: #1a1a1a; }
.chart .tick, .chart .axis { font-size: 11px; fill: #555; }
.chart .grid { stroke: #ececec; stroke-width: 1; }
.chart .frame { fill: none; stroke: #888; stroke-width: 1; }
.chart .line { fill: none; stroke-width: 2; }
table.figures { border-collapse: collapse; font-size: 13px; }
table.figures th, table.figures td { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
table.figures td:first-child, table.figures th:first-child { text-align: left; font-family: monospace; }
table.figures tr.differs td { background: #fff8e0; }
.pictures { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
figure { margin: 0; }
figure img { max-width: 640px; border: 1px solid #e6e6e6; image-rendering: pixelated; }
figcaption { font-size: 12px; color: #555; }
.note { color: #555; font-size: 13px; }
]]

--- The report page of some runs, as HTML text.
-- @tparam {table,...} runs as read_run gives them
-- @tparam[opt] table opts `{title = "moongrad runs"}`
-- @treturn string
function M.html(runs, opts)
  opts = opts or {}
  run_names(runs)
  local keys = collect_series(runs)
  local o = {
    "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
    "<title>" .. escape(opts.title or "moongrad runs") .. "</title>",
    "<style>" .. CSS .. "</style></head><body>",
    "<h1>" .. escape(opts.title or "moongrad runs") .. "</h1>",
    string.format('<p class="note">%d run%s, written %s by moongrad report.</p>', #runs, #runs == 1 and "" or "s",
      os.date("!%Y-%m-%d %H:%M UTC")),
    '<p class="legend">',
  }
  for i, run in ipairs(runs) do
    o[#o + 1] = string.format('<span><span class="swatch" style="background:%s"></span>%s</span>',
      PALETTE[(i - 1) % #PALETTE + 1], escape(run.name))
  end
  o[#o + 1] = "</p>"
  o[#o + 1] = "<h2>Metrics</h2>"
  if #keys == 0 then o[#o + 1] = '<p class="note">No metrics logs (metrics.jsonl) in these runs.</p>' end
  local phase, drawn = nil, 0
  for _, key in ipairs(keys) do
    local lines = false -- a metric measured once per run reads better as a figure
    for _, run in ipairs(runs) do lines = lines or (run.series[key.key] ~= nil and #run.series[key.key].x > 1) end
    if lines then
      if key.phase ~= phase then
        if phase ~= nil then o[#o + 1] = "</div>" end
        phase = key.phase
        if phase ~= "" then o[#o + 1] = "<h3>" .. escape(phase) .. "</h3>" end
        o[#o + 1] = '<div class="charts">'
      end
      o[#o + 1] = chart(key, runs)
      drawn = drawn + 1
    end
  end
  if phase ~= nil then o[#o + 1] = "</div>" end
  if #keys > 0 and drawn == 0 then
    o[#o + 1] = '<p class="note">Every metric was measured once per run: see the figures.</p>'
  end
  o[#o + 1] = "<h2>Final figures</h2>"
  o[#o + 1] = '<p class="note">From each run\'s result.json (else its last metrics); rows whose runs differ are '
    .. "shaded.</p>"
  o[#o + 1] = figures_table(runs)
  o[#o + 1] = "<h2>Pictures</h2>"
  for i, run in ipairs(runs) do
    o[#o + 1] = string.format('<h3><span class="swatch" style="background:%s"></span>%s</h3>',
      PALETTE[(i - 1) % #PALETTE + 1], escape(run.name))
    local p = pictures(run)
    o[#o + 1] = p ~= "" and p or '<p class="note">No pictures.</p>'
  end
  o[#o + 1] = "</body></html>"
  return table.concat(o, "\n")
end

--- Writes the report page of the runs found in paths.
-- @tparam {string,...} paths run folders, or folders holding runs
-- @string out the HTML file to write
-- @tparam[opt] table opts as for html
-- @treturn string out
-- @treturn {table,...} the runs
function M.write(paths, out, opts)
  local dirs = M.find_runs(paths)
  if #dirs == 0 then
    error("report: no runs (folders with metrics.jsonl or result.json) in " .. table.concat(paths, ", "), 0)
  end
  local runs = {}
  for i, d in ipairs(dirs) do runs[i] = M.read_run(d) end
  local page = M.html(runs, opts)
  local f, err = io.open(out, "w")
  if not f then error("report: cannot write " .. out .. ": " .. tostring(err), 0) end
  f:write(page)
  f:close()
  return out, runs
end

local USAGE = [[
usage: moongrad report [-o FILE] [--title TEXT] FOLDER...
Writes one self-contained HTML page (default report.html) comparing the runs
in the folders: metric curves overlaid, final figures side by side, pictures.
A run is a folder with metrics.jsonl or result.json; other folders are
searched for runs.]]

--- The `moongrad report` command.
-- @tparam {string,...} args its arguments
-- @treturn int the exit status
function M.main(args)
  local paths, out, title = {}, "report.html", nil
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then
      print(USAGE)
      return 0
    elseif a == "-o" or a == "--out" or a == "--title" then
      if args[i + 1] == nil then
        io.stderr:write("moongrad report: " .. a .. " needs a value\n")
        return 1
      end
      if a == "--title" then title = args[i + 1] else out = args[i + 1] end
      i = i + 1
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("moongrad report: unknown option " .. a .. "\n" .. USAGE .. "\n")
      return 1
    else
      paths[#paths + 1] = a
    end
    i = i + 1
  end
  if #paths == 0 then
    io.stderr:write(USAGE .. "\n")
    return 1
  end
  local ok, err, runs = pcall(M.write, paths, out, { title = title })
  if not ok then
    io.stderr:write("moongrad " .. tostring(err) .. "\n")
    return 1
  end
  print(string.format("%s: %d run%s", err, #runs, #runs == 1 and "" or "s"))
  return 0
end

return M
