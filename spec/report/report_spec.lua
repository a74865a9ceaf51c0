-- moongrad report: one self-contained HTML page comparing runs (metric
-- curves overlaid as SVG, final figures side by side, pictures inlined).
local H = require "helpers"
local mg = H.mg
local q = H.shell_quote

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- A run folder as the engine and mg.cli.result leave it.
local function make_run(dir, lr, acc)
  mg.mkdir(dir)
  local log = mg.train.MetricsLog(dir .. "/metrics.jsonl")
  for epoch = 1, 3 do
    log:write { phase = "train", epoch = epoch, step = 10 * epoch, lr = lr, train_loss = 1 / epoch + lr,
      val_acc = acc * epoch / 3 }
  end
  log:write { phase = "evaluation", labels = 100, probe = acc }
  log:close()
  write(dir .. "/result.json", mg.json.encode({ example = "spec", lr = lr, test_acc = acc,
    attacks = { eps = { 0.1, 0.3 }, normal = { clean = 0.9 } }, pictures = { dir .. "/grid.png" } }, { digits = 4 }))
  mg.write_png(dir .. "/grid.png", mg.full(8, 12, 0.5))
end

local function count(s, pattern)
  local _, n = s:gsub(pattern, "")
  return n
end

describe("moongrad report", function()
  local root, elsewhere

  setup(function()
    root, elsewhere = H.tmpdir(), H.tmpdir()
    make_run(root .. "/sweep/lr_0.1", 0.1, 0.75)
    make_run(root .. "/sweep/lr_0.01", 0.01, 0.8125)
    mg.mkdir(root .. "/sweep/empty")
  end)

  teardown(function()
    os.execute("rm -rf " .. q(root) .. " " .. q(elsewhere))
  end)

  it("writes one self-contained page with curves, figures and pictures", function()
    local out, code = H.run("cd " .. q(elsewhere) .. " && " .. q(H.bin) .. " report " .. q(root .. "/sweep")
      .. " -o cmp.html")
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("cmp.html: 2 runs", 1, true), out)
    local page = read(elsewhere .. "/cmp.html")
    -- both runs, named by what differs in their paths
    assert.is_truthy(page:find("lr_0.1", 1, true) and page:find("lr_0.01", 1, true))
    -- one chart per metric measured more than once, one line per run in each
    assert.are.equal(3, count(page, "<svg "), "charts for lr, train_loss, val_acc")
    for _, metric in ipairs({ "train: lr", "train: train_loss", "train: val_acc" }) do
      assert.is_truthy(page:find('aria%-label="' .. metric:gsub("%p", "%%%0") .. '"'), metric)
    end
    assert.are.equal(6, count(page, "<polyline "))
    assert.is_falsy(page:find('aria-label="evaluation: probe"', 1, true), "a value measured once is a figure")
    -- the figures: flattened result.json, rows that differ marked
    assert.is_truthy(page:find('<tr class="differs"><td>test_acc</td><td>0.8125</td><td>0.75</td></tr>', 1, true),
      "test_acc row")
    assert.is_truthy(page:find('<tr><td>example</td><td>spec</td><td>spec</td></tr>', 1, true), "example row")
    assert.is_truthy(page:find("<td>attacks.normal.clean</td>", 1, true))
    assert.is_truthy(page:find("<td>attacks.eps.2</td>", 1, true))
    -- the pictures, inlined
    assert.are.equal(2, count(page, 'src="data:image/png;base64,'))
    -- nothing to fetch: no scripts, no links out, no external styles
    assert.is_falsy(page:find("<script", 1, true))
    assert.is_falsy(page:find('src="http', 1, true) or page:find('href="http', 1, true))
    assert.is_falsy(page:find("@import", 1, true) or page:find("url(", 1, true))
  end)

  it("inlines the pictures byte for byte", function()
    H.run("cd " .. q(elsewhere) .. " && " .. q(H.bin) .. " report " .. q(root .. "/sweep/lr_0.1") .. " -o one.html")
    local page = read(elsewhere .. "/one.html")
    local b64 = page:match('src="data:image/png;base64,([^"]+)"')
    assert.is_truthy(b64)
    local decoded = H.run("printf '%s' " .. q(b64) .. " | base64 -d | cmp - " .. q(root .. "/sweep/lr_0.1/grid.png")
      .. " && echo same")
    assert.is_truthy(decoded:find("same", 1, true), decoded)
  end)

  it("says so when there are no runs, and refuses bad options", function()
    local out, code = H.run(q(H.bin) .. " report " .. q(root .. "/sweep/empty") .. " -o " .. q(elsewhere .. "/x.html"))
    assert.are.equal(1, code)
    assert.is_truthy(out:find("no runs", 1, true), out)
    out, code = H.run(q(H.bin) .. " report --bogus " .. q(root))
    assert.are.equal(1, code)
    assert.is_truthy(out:find("unknown option --bogus", 1, true), out)
    out, code = H.run(q(H.bin) .. " report " .. q(root .. "/no_such_folder"))
    assert.are.equal(1, code)
    assert.is_truthy(out:find("is not a folder", 1, true), out)
  end)

  it("is also a module: mg.report.write", function()
    local path, runs = mg.report.write({ root .. "/sweep" }, elsewhere .. "/api.html", { title = "lr sweep" })
    assert.are.equal(elsewhere .. "/api.html", path)
    assert.are.equal(2, #runs)
    assert.is_truthy(read(path):find("<h1>lr sweep</h1>", 1, true))
  end)
end)
