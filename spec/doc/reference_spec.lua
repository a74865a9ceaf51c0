-- The API reference. Every public function, class and module of moongrad
-- (what `require "moongrad"` reaches: mg.doc.public says precisely) has a
-- doc comment that names its parameters; LDoc (`make doc`) puts each of
-- them in the HTML reference; help shows them. A failure here lists what
-- lacks a doc comment and where to add it.
local H = require "helpers"
local mg = H.mg
local doc = require "moongrad.doc"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("the reference", function()
  it("documents every public function, class and module, with its parameters", function()
    local problems = doc.missing()
    if #problems > 0 then
      error(#problems .. " public names lack documentation (see lua/moongrad/doc.lua, M.public):\n  "
        .. table.concat(problems, "\n  "), 0)
    end
  end)

  it("reaches the whole API from require", function()
    local kinds, n = {}, 0
    for _, e in ipairs(doc.public().entries) do kinds[e.name] = e.kind; n = n + 1 end
    assert.are.equal("function", kinds["mg.zeros"])          -- C
    assert.are.equal("function", kinds["mg.no_grad"])        -- Lua, in init.lua
    assert.are.equal("module", kinds["mg.nn"])
    assert.are.equal("module", kinds["mg.optim.lr_scheduler"]) -- loaded lazily
    assert.are.equal("class", kinds["mg.nn.Linear"])
    assert.are.equal("method", kinds["mg.nn.Linear:init"])
    assert.are.equal("method", kinds["mg.nn.Module:state_dict"])
    assert.are.equal("method", kinds["Tensor:type_as"])      -- a Tensor method only
    assert.are.equal("class", kinds["Tensor"])
    assert.is_nil(kinds["mg.core"])                           -- the C module itself is not walked
    assert.is_nil(kinds["mg.nn.F"])                            -- an alias is named once
    assert.is_true(n > 500, n .. " entries")
  end)

  it("reports an undocumented function, a missing @param and a class without @type", function()
    local dir = H.tmpdir()
    mg.mkdir(dir .. "/moongrad")
    local file = dir .. "/moongrad/zz_spec_module.lua"
    write(file, [[
--- A module made by the spec.
-- @module moongrad.zz_spec_module
local class = require "moongrad.class"
local M = {}

function M.bare(a) return a end

--- Documented, but not its second parameter.
-- @param a the first
function M.half(a, b) return a, b end

--- Fully documented.
-- @int n
-- @usage zz.full(1)
function M.full(n) return n end

M.Thing = class("zz.Thing")
function M.Thing:init(x) self.x = x end

return M
]])
    local saved_path = package.path
    package.path = dir .. "/?.lua;" .. package.path
    local m = require "moongrad.zz_spec_module"
    rawset(mg, "zz_spec_module", m)
    local ok, problems = pcall(doc.missing, { fresh = true })
    rawset(mg, "zz_spec_module", nil)
    package.loaded["moongrad.zz_spec_module"] = nil
    package.path = saved_path
    doc.public({ fresh = true })
    os.execute("rm -rf " .. H.shell_quote(dir))
    assert(ok, problems)
    local text = table.concat(problems, "\n")
    assert.is_truthy(text:find("function mg.zz_spec_module.bare has no doc comment", 1, true), text)
    assert.is_truthy(text:find("mg.zz_spec_module.half: parameter 'b' has no @param", 1, true), text)
    assert.is_truthy(text:find("class mg.zz_spec_module.Thing has no doc comment", 1, true), text)
    assert.is_truthy(text:find("method mg.zz_spec_module.Thing:init has no doc comment", 1, true), text)
    assert.is_falsy(text:find("zz_spec_module.full", 1, true), text)
    assert.is_falsy(text:find("module mg.zz_spec_module ", 1, true), text)
  end)

  it("parses LDoc's tags", function()
    local d = doc.parse({
      "Sums things. More text", "on two lines.",
      "@tparam Tensor x the input",
      "@int[opt=1] dim the dim,", "  continued",
      "@param ... more",
      "@treturn Tensor the sum",
      "@return a second value",
      "@usage local y = f(x)", "print(y)",
      "@see other",
    })
    assert.are.equal("Sums things.", d.summary)
    assert.are.same({ name = "x", type = "Tensor", desc = "the input", optional = false }, d.params[1])
    assert.are.same({ name = "dim", type = "int", desc = "the dim, continued", optional = true, default = "1" },
      d.params[2])
    assert.are.equal("...", d.params[3].name)
    assert.are.same({ type = "Tensor", desc = "the sum" }, d.returns[1])
    assert.are.same({ desc = "a second value" }, d.returns[2])
    assert.are.same({ "local y = f(x)", "print(y)" }, d.usage)
    assert.are.same({ "other" }, d.tags.see)
  end)

  it("gives a function's, a class's and a module's reference as text", function()
    local z = doc.text(mg.zeros)
    assert.is_truthy(z:find("^mg%.zeros%(%.%.%., %[opts%]%)"), z)
    assert.is_truthy(z:find("A tensor filled with zeros.", 1, true), z)
    assert.is_truthy(z:find("Parameters:", 1, true) and z:find("Returns:", 1, true), z)
    assert.is_truthy(z:find("Example:\n    local x = mg.zeros(2, 3)", 1, true), z)
    local lin = doc.text(mg.nn.Linear)
    assert.is_truthy(lin:find("mg.nn.Linear (class)", 1, true), lin)
    assert.is_truthy(lin:find("fully connected", 1, true), lin)
    assert.is_truthy(lin:find("forward", 1, true) and lin:find("init", 1, true), lin)
    local init = doc.text(mg.nn.Linear.init)
    assert.is_truthy(init:find("^mg%.nn%.Linear%(in_features, out_features, %[opts%]%)"), init)
    local nn = doc.text(mg.nn)
    assert.is_truthy(nn:find("Contents:", 1, true) and nn:find("\n    Sequential ", 1, true), nn)
    assert.are.equal(doc.text(mg.nn.Linear), doc.text("nn.Linear"))
    assert.are.equal(doc.text(mg.zeros), doc.text("zeros"))
    local t = doc.text(mg.ones(2))
    assert.is_truthy(t:find("Tensor (class)", 1, true) and t:find("x:sum", 1, true), t)
    assert.is_truthy(doc.text("no_such_thing"):find("no reference", 1, true))
    assert.is_truthy(doc.text(function() end):find("no reference", 1, true))
  end)

  it("is built by LDoc with every public module, class and function in it", function()
    if os.getenv("MOONGRAD_ASAN") then return end -- LDoc reads files only: nothing for the sanitizers
    local out = H.tmpdir()
    local log, code = H.run("ldoc -d " .. H.shell_quote(out) .. " . 2>&1")
    assert.are.equal(0, code, log)
    local warnings = {}
    for line in log:gmatch("[^\n]+") do
      if line:find(":%d+: ") or line:find("LDoc error") then warnings[#warnings + 1] = line end
    end
    assert.are.same({}, warnings)
    local anchors, pages, short = {}, {}, {}
    local p = io.popen("find " .. H.shell_quote(out) .. " -name '*.html'")
    for f in p:lines() do
      local h = assert(io.open(f)):read("a")
      pages[f:match("([^/]+)%.html$")] = true
      for a in h:gmatch('<a name%s*=%s*"([^"]+)"') do
        anchors[a] = true
        short[a:match("([^%.:]+)$")] = true
      end
    end
    p:close()
    os.execute("rm -rf " .. H.shell_quote(out))
    local missing = {}
    for _, e in ipairs(doc.public().entries) do
      local last = e.name:match("([^%.:]+)$")
      local ok
      if e.kind == "module" then
        ok = pages[e.doc and e.doc.tags.module and e.doc.tags.module[1] or "?"]
      elseif e.kind == "class" then
        ok = anchors["Class_" .. last]
      elseif e.kind == "namespace" then
        ok = true -- a plain table of functions: its functions are checked
      else
        ok = e.inherited_from ~= nil or short[last]
      end
      if not ok then missing[#missing + 1] = e.kind .. " " .. e.name end
    end
    if #missing > 0 then
      error("not in the LDoc reference (is the file listed in config.ld?):\n  " .. table.concat(missing, "\n  "), 0)
    end
  end)
end)
