-- The host program's command line: script arguments and `arg` as lua(1)
-- sets them, -e and -l in order, --seed, --threads, --version, --help, -,
-- --, and errors (traceback on stderr, exit status 1).
local H = require "helpers"

local q, run = H.shell_quote, H.run_host

local tmpfiles = {}
local function tmpfile(text, suffix)
  local base = os.tmpname() -- created empty; removed in teardown
  local path = base .. (suffix or ".lua")
  tmpfiles[#tmpfiles + 1] = base
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
  tmpfiles[#tmpfiles + 1] = path
  return path
end

describe("host program", function()
  teardown(function() for _, p in ipairs(tmpfiles) do os.remove(p) end end)

  it("passes script arguments in arg and ... as lua does", function()
    local script = tmpfile([[
      print(arg[0] == SCRIPT, #arg, arg[1], arg[2], arg[3], arg[-1] ~= nil, select("#", ...), ...)
    ]])
    local out, err, code = run("-e " .. q("SCRIPT = " .. string.format("%q", script))
      .. " " .. q(script) .. " a 'b c' -x")
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("true\t3\ta\tb c\t-x\ttrue\t3\ta\tb c\t-x\n", out)
  end)

  it("puts the interpreter and its options at negative indices of arg", function()
    local script = tmpfile("print(arg[-3] == HOST, arg[-2], arg[-1], arg[1])")
    local out, _, code = run("-e " .. q("HOST = " .. string.format("%q", H.bin)) .. " " .. q(script) .. " z")
    assert.are.equal(0, code)
    -- arg[-3] is the program, arg[-2] "-e", arg[-1] the code
    assert.are.equal("true\t-e\tHOST = " .. string.format("%q", H.bin) .. "\tz\n", out)
  end)

  it("sets arg[0] to the program when there is no script, as lua does", function()
    local out, _, code = run("-e " .. q("print(arg[1], arg[2] ~= nil, arg[3])"))
    assert.are.equal(0, code)
    assert.are.equal("-e\ttrue\tnil\n", out)
  end)

  it("runs -e code and -l libraries in the order given, before the script", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. q(dir)))
    local f = assert(io.open(dir .. "/mg_host_lib.lua", "w"))
    f:write("trace = (trace or '') .. 'L'\nreturn {value = 42}\n")
    f:close()
    local script = tmpfile("print(trace, mg_host_lib.value, lib2.value)")
    local out, err, code = run("-e " .. q("package.path = " .. string.format("%q", dir .. "/?.lua;")
      .. " .. package.path")
      .. " -e " .. q("trace = 'E1'") .. " -l mg_host_lib -e " .. q("trace = trace .. 'E2'")
      .. " -l lib2=mg_host_lib " .. q(script))
    os.execute("rm -rf " .. q(dir))
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("E1LE2\t42\t42\n", out)
  end)

  it("takes -e code attached to the option", function()
    local out, _, code = run(q("-eprint(6 * 7)"))
    assert.are.equal(0, code)
    assert.are.equal("42\n", out)
  end)

  it("computes with moongrad from -e", function()
    local out, err, code = run("-e " .. q('local mg = require "moongrad"; print(mg.ones(2, 3):sum():item())'))
    assert.are.equal("", err)
    assert.are.equal(0, code)
    assert.are.equal("6\n", out)
  end)

  it("repeats random numbers with --seed and changes them with another seed", function()
    local code = q('local mg = require "moongrad"; print(table.concat(mg.randn(4):totable(), " "))')
    local a = run("--seed 5 -e " .. code)
    local b = run("--seed=5 -e " .. code)
    local c = run("--seed 6 -e " .. code)
    assert.are.equal(a, b)
    assert.are_not.equal(a, c)
    assert.is_truthy(a:match("^%S+ %S+ %S+ %S+\n$"))
  end)

  it("sets the thread count with --threads", function()
    local code = q('print((require("moongrad").get_num_threads()))')
    assert.are.equal("1\n", (run("--threads 1 -e " .. code)))
    assert.are.equal("3\n", (run("--threads=3 -e " .. code)))
  end)

  it("refuses a bad --threads or --seed value", function()
    for _, args in ipairs({ "--threads 0", "--threads x", "--threads", "--seed 1.5", "--seed ''" }) do
      local out, err, code = run(args .. " -e 'print(1)'")
      assert.are.equal(1, code, args)
      assert.are.equal("", out, args)
      assert.is_truthy(err:find("--", 1, true), args)
    end
  end)

  it("prints its version with --version and -v", function()
    local version = run("-e " .. q('print(require("moongrad").version)'))
    for _, opt in ipairs({ "--version", "-v" }) do
      local out, _, code = run(opt)
      assert.are.equal(0, code)
      assert.are.equal("moongrad " .. version:gsub("\n", "") .. " (Lua 5.4", out:match("^(moongrad %S+ %(Lua 5%.4)"))
    end
  end)

  it("prints usage with --help and -h", function()
    for _, opt in ipairs({ "--help", "-h" }) do
      local out, _, code = run(opt)
      assert.are.equal(0, code)
      assert.is_truthy(out:find("usage: moongrad", 1, true))
      for _, o in ipairs({ "-e", "-i", "-l", "--threads", "--seed", "--version", "--help" }) do
        assert.is_truthy(out:find(o, 1, true), o)
      end
    end
  end)

  it("refuses an unknown option with usage on stderr", function()
    local out, err, code = run("--frobnicate")
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.is_truthy(err:find("unknown option '--frobnicate'", 1, true))
    assert.is_truthy(err:find("usage:", 1, true))
  end)

  it("exits 1 with the message and a traceback on stderr when a script fails", function()
    local script = tmpfile("local function inner() error('boom here') end\n"
      .. "local function outer() inner() end\nprint('before')\nouter()\n")
    local out, err, code = run(q(script))
    assert.are.equal(1, code)
    assert.are.equal("before\n", out)
    assert.is_truthy(err:find("boom here", 1, true))
    assert.is_truthy(err:find("stack traceback:", 1, true))
    assert.is_truthy(err:find("in local 'inner'", 1, true) or err:find("in upvalue 'inner'", 1, true), err)
    assert.is_truthy(err:find(":4: in main chunk", 1, true), err)
  end)

  it("reports a core error with the core's message", function()
    local out, err, code = run("-e " .. q('local mg = require "moongrad"; print(mg.ones(2, 3) + mg.ones(4))'))
    assert.are.equal(1, code)
    assert.are.equal("", out)
    assert.is_truthy(err:find("[2, 3]", 1, true), err)
    assert.is_truthy(err:find("[4]", 1, true), err)
  end)

  it("exits 1 on a syntax error, a missing script and an error object that is not a string", function()
    local _, err, code = run(q(tmpfile("x = = 1")))
    assert.are.equal(1, code)
    assert.is_truthy(err:find("unexpected symbol", 1, true))
    _, err, code = run("/nonexistent/mg_host_script.lua")
    assert.are.equal(1, code)
    assert.is_truthy(err:find("cannot open", 1, true))
    _, err, code = run("-e " .. q("error({})"))
    assert.are.equal(1, code)
    assert.is_truthy(err:find("error object is a table value", 1, true))
  end)

  it("stops at the first failing -e and runs nothing after it", function()
    local out, _, code = run("-e 'print(1)' -e 'error(\"x\")' -e 'print(3)'")
    assert.are.equal(1, code)
    assert.are.equal("1\n", out)
  end)

  it("passes os.exit's status through", function()
    local _, _, code = run("-e 'os.exit(3)'")
    assert.are.equal(3, code)
  end)

  it("runs standard input as a script with -", function()
    local out, _, code = run("- x y", "print(arg[0], ...)")
    assert.are.equal(0, code)
    assert.are.equal("-\tx\ty\n", out)
  end)

  it("stops handling options at --", function()
    local script = tmpfile("print(...)")
    local out, _, code = run("-- " .. q(script) .. " --seed 1 -e")
    assert.are.equal(0, code)
    assert.are.equal("--seed\t1\t-e\n", out)
  end)

  it("shortens the OpenMP spin unless the user chose a setting, keeping arg", function()
    local show = "-e " .. q('print(os.getenv("GOMP_SPINCOUNT"), arg[1])') .. " - x"
    local cases = {
      { "env -u GOMP_SPINCOUNT -u OMP_WAIT_POLICY", "10000\tx\n" },
      { "env -u OMP_WAIT_POLICY GOMP_SPINCOUNT=5", "5\tx\n" },
      { "env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=passive", "nil\tx\n" },
    }
    for _, c in ipairs(cases) do
      local out, err, code = run(show, "", c[1])
      assert.are.equal(0, code, err)
      assert.are.equal(c[2], out, c[1])
    end
  end)

  it("opens the REPL after -e with -i", function()
    local out, _, code = run("-e 'x = 20' -i", "x + 1\n")
    assert.are.equal(0, code)
    assert.are.equal("21\n", out)
  end)
end)
