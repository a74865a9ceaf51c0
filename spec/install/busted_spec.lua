-- Plain `busted` from the repository root works after `make`: .busted runs
-- busted under lua5.4 (whatever /usr/bin/lua is) and finds the C module in
-- build/ and the host program in bin/.
local H = require "helpers"

describe("plain busted", function()
  it("runs a spec file against build/ from the repository root", function()
    if not os.execute("test -f build/moongrad/core.so -a -x bin/moongrad") then
      pending("build/ and bin/ are not built (this run uses another BUILD)")
      return
    end
    local out, code = H.run("env -u MOONGRAD_BIN -u MOONGRAD_CTEST -u MOONGRAD_BUILD -u MOONGRAD_ASAN "
      .. "-u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 busted spec/host/args_spec.lua")
    assert.are.equal(0, code, out)
    local passed, failed = out:match("\n(%d+) passed, (%d+) failed\n")
    assert.is_truthy(passed, out)
    assert.is_true(tonumber(passed) > 5, out)
    assert.are.equal("0", failed, out)
  end)
end)
