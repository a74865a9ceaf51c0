-- Installing: `make install PREFIX=...` into a fresh prefix gives a host
-- program that runs a script from any folder, a Lua library that plain
-- lua5.4 requires with the usual LUA_PATH/LUA_CPATH, the bundled data, and
-- a C library that a C program builds against through pkg-config.
-- `luarocks make` installs a working tree too. The build under test is the
-- one the specs run against (MOONGRAD_BUILD and MOONGRAD_BIN, set by make).
local H = require "helpers"
local q = H.shell_quote

local build = os.getenv("MOONGRAD_BUILD") or "build"
local bindir = H.bin:match("^(.*)/[^/]+$") or "bin"
local asan = os.getenv("MOONGRAD_ASAN") ~= nil

-- make, as a child of this process only (not of a make running the specs).
local function make(args)
  return H.run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory BUILD=" .. q(build)
    .. " BIN=" .. q(bindir) .. " " .. args)
end

-- A script that uses the library, a submodule and the bundled data.
local SCRIPT = [[
local mg = require "moongrad"
local ds = mg.data.mnist{split = "train", source = "sample"}
local y = mg.nn.Linear(4, 2)(mg.ones(3, 4))
print("ok", mg.ones(2, 3):sum():item(), #ds, table.concat(y:shape(), "x"), ...)
]]

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function lua_env(tree)
  return "LUA_PATH=" .. q(tree .. "/share/lua/5.4/?.lua;" .. tree .. "/share/lua/5.4/?/init.lua;;")
    .. " LUA_CPATH=" .. q(tree .. "/lib/lua/5.4/?.so;;")
end

describe("make install", function()
  local prefix, elsewhere, out, code

  setup(function()
    prefix, elsewhere = H.tmpdir(), H.tmpdir()
    out, code = make("install PREFIX=" .. q(prefix))
    write(elsewhere .. "/script.lua", SCRIPT)
  end)

  teardown(function()
    os.execute("rm -rf " .. q(prefix) .. " " .. q(elsewhere))
  end)

  it("puts every part in its place", function()
    assert.are.equal(0, code, out)
    for _, f in ipairs({ "bin/moongrad", "share/lua/5.4/moongrad/init.lua", "share/lua/5.4/moongrad/nn/init.lua",
      "lib/lua/5.4/moongrad/core.so", "lib/libmoongrad.a", "include/moongrad/mg.h", "lib/pkgconfig/moongrad.pc" }) do
      assert.is_true(os.execute("test -f " .. q(prefix .. "/" .. f)) == true, f .. " is missing")
    end
  end)

  it("gives a host program that runs a script from another folder", function()
    local o, c = H.run("cd " .. q(elsewhere) .. " && " .. q(prefix .. "/bin/moongrad") .. " script.lua a1")
    assert.are.equal(0, c, o)
    assert.is_truthy(o:find("ok\t6\t2000\t3x2\ta1", 1, true), o)
  end)

  it("finds its library when the prefix has moved", function()
    local moved = prefix .. "-moved"
    assert.is_true(os.execute("mv " .. q(prefix) .. " " .. q(moved)) == true)
    local o, c = H.run("cd " .. q(elsewhere) .. " && " .. q(moved .. "/bin/moongrad")
      .. " -e 'print(package.searchpath(\"moongrad\", package.path))'")
    os.execute("mv " .. q(moved) .. " " .. q(prefix))
    assert.are.equal(0, c, o)
    assert.are.equal(moved .. "/share/lua/5.4/moongrad/init.lua\n", o)
  end)

  it("gives a library that plain lua5.4 requires", function()
    if asan then return end -- lua5.4 cannot load a module built with the sanitizers
    local o, c = H.run("cd " .. q(elsewhere) .. " && " .. lua_env(prefix) .. " lua5.4 script.lua")
    assert.are.equal(0, c, o)
    assert.is_truthy(o:find("ok\t6\t2000\t3x2", 1, true), o)
  end)

  it("gives a C library that builds through pkg-config", function()
    if asan then return end -- a sanitizer build's library needs the sanitizer runtime at link time
    write(elsewhere .. "/sum.c", [[
#include <mg.h>
#include <stdio.h>
int main(void) {
    int64_t shape[2] = {2, 3};
    mg_tensor *t = mg_full(MG_F32, 2, shape, 1.5), *s = mg_sum(t);
    if (!s) { puts(mg_last_error()); return 1; }
    printf("%s %g\n", MG_VERSION, (double)mg_f32(s)[0]);
    mg_release(s);
    mg_release(t);
    return 0;
}
]])
    local pc = "PKG_CONFIG_PATH=" .. q(prefix .. "/lib/pkgconfig")
    local o, c = H.run("cd " .. q(elsewhere) .. " && " .. pc .. " pkg-config --modversion moongrad && cc sum.c $("
      .. pc .. " pkg-config --cflags --libs moongrad) -o sum && ./sum")
    assert.are.equal(0, c, o)
    assert.are.equal(H.mg.version .. "\n" .. H.mg.version .. " 9\n", o)
  end)

  it("is undone by make uninstall", function()
    local o, c = make("uninstall PREFIX=" .. q(prefix))
    assert.are.equal(0, c, o)
    local left = H.run("find " .. q(prefix) .. " -type f")
    assert.are.equal("", left)
  end)
end)

describe("luarocks make", function()
  local rockspec = io.popen("ls moongrad-*.rockspec"):read("l")

  it("has a rockspec whose version is the library's", function()
    assert.is_truthy(rockspec, "no moongrad-*.rockspec at the repository root")
    assert.are.equal("moongrad-" .. H.mg.version .. "-1.rockspec", rockspec)
  end)

  it("installs a tree whose host and library work from another folder", function()
    if asan then return end -- builds build/ with its own flags; the packaging is checked by the plain run
    local tree, elsewhere = H.tmpdir(), H.tmpdir()
    write(elsewhere .. "/script.lua", SCRIPT)
    local o, c = H.run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL BUILD=" .. q(build) .. " BIN=" .. q(bindir)
      .. " luarocks --lua-version=5.4 make --tree=" .. q(tree) .. " " .. rockspec)
    assert.are.equal(0, c, o)
    local o2, c2 = H.run("cd " .. q(elsewhere) .. " && " .. q(tree .. "/bin/moongrad") .. " script.lua")
    local o3, c3 = H.run("cd " .. q(elsewhere) .. " && " .. lua_env(tree) .. " lua5.4 script.lua")
    os.execute("rm -rf " .. q(tree) .. " " .. q(elsewhere))
    assert.are.equal(0, c2, o2)
    assert.is_truthy(o2:find("ok\t6\t2000\t3x2", 1, true), o2)
    assert.are.equal(0, c3, o3)
    assert.is_truthy(o3:find("ok\t6\t2000\t3x2", 1, true), o3)
  end)
end)
