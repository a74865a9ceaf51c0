-- Help and completion in the REPL: help(mg.zeros) and ?mg.zeros print the
-- function's reference; on a terminal, Tab completes submodules that load
-- on first use (mg.opt<Tab>) and names inside them. The terminal cases run
-- the host under script(1), which gives it a pseudo-terminal.
local H = require "helpers"

local function repl(input) return H.run_host("", input) end

-- Types `keys` into the REPL on a pseudo-terminal; returns what the
-- terminal showed, without escape sequences and carriage returns.
local function terminal(keys)
  local home = H.tmpdir() -- the REPL keeps its history there
  local cmd = string.format("(printf '%%s' %s; sleep 1) | HOME=%s TERM=dumb timeout 20 script -qec %s /dev/null",
    H.shell_quote(keys), H.shell_quote(home), H.shell_quote(H.bin))
  local out, code = H.run(cmd)
  os.execute("rm -rf " .. H.shell_quote(home))
  out = out:gsub("\27%[[%d;?]*%a", ""):gsub("\r", "")
  return out, code
end

describe("REPL help", function()
  it("help(f) prints a function's reference", function()
    local out, err = repl("help(mg.zeros)\n")
    assert.are.equal("", err)
    assert.is_truthy(out:find("mg.zeros(..., [opts])", 1, true), out)
    assert.is_truthy(out:find("A tensor filled with zeros.", 1, true), out)
    assert.is_truthy(out:find("Example:", 1, true), out)
  end)

  it("?name does the same, for a value, a name or a method", function()
    local out = repl("?mg.zeros\n")
    assert.is_truthy(out:find("mg.zeros(..., [opts])", 1, true), out)
    out = repl("?zeros\n")
    assert.is_truthy(out:find("mg.zeros(..., [opts])", 1, true), out)
    out = repl("?Tensor:type_as\n")
    assert.is_truthy(out:find("Tensor:type_as(t, other)", 1, true), out)
    out = repl("  ?mg.nn.Linear\n")
    assert.is_truthy(out:find("mg.nn.Linear (class)", 1, true), out)
    assert.is_truthy(out:find("in_features", 1, true) or out:find("init", 1, true), out)
    out = repl("model = mg.nn.Linear(2, 3)\n?model.forward\n")
    assert.is_truthy(out:find("Applies the layer.", 1, true), out)
  end)

  it("help() and ? alone say how to use it; an unknown name says there is none", function()
    local out = repl("help()\n?\n?no_such_name\n")
    local _, usage = out:gsub("help%(f%) prints the reference", "")
    assert.are.equal(2, usage, out)
    assert.is_truthy(out:find("no reference for 'no_such_name'", 1, true), out)
  end)

  it("lists a module's contents", function()
    local out = repl("help(mg.optim)\n")
    assert.is_truthy(out:find("Contents:", 1, true), out)
    for _, name in ipairs({ "Adam", "SGD", "clip_grad_norm", "lr_scheduler" }) do
      assert.is_truthy(out:find("\n    " .. name .. " ", 1, true), name .. " missing from\n" .. out)
    end
  end)
end)

describe("REPL completion on a terminal", function()
  it("completes a submodule that is not loaded yet", function()
    local out, code = terminal("mg.opt\t\n")
    assert.are.equal(0, code, out)
    assert.is_truthy(out:find("> mg.optim\n", 1, true), out)
  end)

  it("completes names inside a lazily loaded module and runs ?", function()
    local out = terminal("mg.nn.Lin\t\n?mg.nn.Linear:forw\t\n")
    assert.is_truthy(out:find("> mg.nn.Linear\n", 1, true), out)
    assert.is_truthy(out:find("> ?mg.nn.Linear:forward", 1, true), out)
    assert.is_truthy(out:find("Applies the layer.", 1, true), out)
  end)
end)

describe("completion candidates", function()
  local repl_lua = require "moongrad.repl"
  local env = { mg = H.mg }

  it("include every submodule of mg and the functions", function()
    local all = {}
    for _, c in ipairs(repl_lua.complete("mg.", env)) do all[c] = true end
    for _, name in ipairs({ "nn", "optim", "data", "train", "viz", "attack", "ssl", "gan", "models", "zeros" }) do
      assert.is_true(all["mg." .. name], "mg." .. name)
    end
    assert.are.same({ "mg.optim" }, repl_lua.complete("mg.opt", env))
  end)

  it("include lazily loaded names below the top", function()
    local got = repl_lua.complete("mg.optim.lr_", env)
    assert.are.same({ "mg.optim.lr_scheduler" }, got)
    got = repl_lua.complete("mg.data.tr", env)
    assert.are.same({ "mg.data.transforms" }, got)
  end)
end)
