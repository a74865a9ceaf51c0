-- The REPL, fed on standard input (not a terminal: no prompts, no banner):
-- expressions print their values, tensors by values and shape, statements
-- run, multi-line input continues, errors are reported and the REPL goes on.
local H = require "helpers"

-- Feeds lines to the REPL; returns stdout, stderr and the exit status.
local function repl(input, args) return H.run_host(args or "", input) end

describe("REPL on standard input", function()
  it("prints the value of an expression", function()
    local out, err, code = repl("1 + 1\n")
    assert.are.equal("2\n", out)
    assert.are.equal("", err)
    assert.are.equal(0, code)
  end)

  it("prints a tensor with its values and shape", function()
    local out = repl("mg.tensor{{1, 2, 3}, {4, 5, 6}}\n")
    assert.is_truthy(out:find("[2, 3]", 1, true), out)
    assert.is_truthy(out:find("float32", 1, true), out)
    for v = 1, 6 do assert.is_truthy(out:find(v .. ".", 1, true), out) end
  end)

  it("has mg predefined and runs statements without printing", function()
    local out = repl("x = mg.ones(3):sum():item()\nx * 2\n")
    assert.are.equal("6\n", out)
  end)

  it("prints several values, nil, strings and tables", function()
    local out = repl("1, 'a', nil\nnil\n'text'\n{1, 2, k = 'v'}\n")
    assert.are.equal("1\ta\tnil\nnil\ntext\n{1, 2, k = \"v\"}\n", out)
  end)

  it("shows a tensor inside a table by shape", function()
    local out = repl("{mg.zeros(2, 3)}\n")
    assert.are.equal("{Tensor[2, 3] float32}\n", out)
  end)

  it("continues a multi-line function definition", function()
    local out, err = repl("function sq(a)\n  local b = a * a\n  return b\nend\nsq(7)\n")
    assert.are.equal("", err)
    assert.are.equal("49\n", out)
  end)

  it("continues a multi-line expression and a multi-line loop", function()
    local out = repl("mg.tensor{1,\n  2,\n  3}:sum():item()\nfor i = 1, 2 do\n  print(i)\nend\n1 +\n2\n")
    assert.are.equal("6\n1\n2\n3\n", out)
  end)

  it("reports an error and goes on", function()
    local out, err, code = repl("error('boom')\n1 + 2\nmg.ones(2) + mg.ones(3)\n'still here'\n")
    assert.are.equal("3\nstill here\n", out)
    assert.is_truthy(err:find("boom", 1, true), err)
    assert.is_truthy(err:find("[2]", 1, true) and err:find("[3]", 1, true), err)
    assert.are.equal(0, code)
  end)

  it("reports a syntax error and goes on", function()
    local out, err = repl("x = = 1\n5\n")
    assert.are.equal("5\n", out)
    assert.is_truthy(err:find("unexpected symbol", 1, true), err)
  end)

  it("reports input that ends inside a statement", function()
    local out, err, code = repl("print(1)\nfor i = 1, 2 do\n")
    assert.are.equal("1\n", out)
    assert.is_truthy(err:find("expected", 1, true), err)
    assert.are.equal(0, code)
  end)

  it("skips blank lines and keeps locals of one input only", function()
    local out = repl("\n\n  \nlocal y = 5\ny\n")
    assert.are.equal("nil\n", out)
  end)

  it("reads very long lines whole", function()
    local out = repl("#'" .. string.rep("x", 100000) .. "'\n")
    assert.are.equal("100000\n", out)
  end)
end)
