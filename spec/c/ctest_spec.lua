-- Runs the C unit tests: every binary in $MOONGRAD_CTEST (the Makefile
-- builds spec/c/NAME.c into BUILD/ctest/NAME and sets the variable). Each
-- binary prints "ok NAME" or "not ok NAME: message" per check; every such
-- line becomes one test here, so failures are counted. A binary that exits
-- non-zero, prints no result line, or a source that was not built, fails.
local H = require "helpers"

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function lines_of(cmd)
  local p = io.popen(cmd)
  local out = {}
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  return out
end

-- (plain `busted` finds them in build/ctest once `make test` built them)
local dir = os.getenv("MOONGRAD_CTEST")
if not dir and os.execute("test -d build/ctest") then dir = "build/ctest" end

describe("C tests", function()
  if not dir then
    pending("MOONGRAD_CTEST is not set and build/ctest is missing: run the C tests through make test")
    return
  end

  local binaries = {}
  for _, path in ipairs(lines_of("find " .. q(dir) .. " -maxdepth 1 -type f -perm -u+x 2>/dev/null | sort")) do
    binaries[path:match("([^/]+)$")] = path
  end
  local names = {}
  for _, src in ipairs(lines_of("ls spec/c/*.c 2>/dev/null")) do
    local name = src:match("([%w_%-]+)%.c$")
    names[#names + 1] = name
    if not binaries[name] then
      it(name .. " was built", function() error("no binary " .. dir .. "/" .. name .. " for " .. src, 0) end)
    end
  end
  for name in pairs(binaries) do
    local listed = false
    for _, n in ipairs(names) do listed = listed or n == name end
    if not listed then names[#names + 1] = name end
  end
  table.sort(names)

  for _, name in ipairs(names) do
    local bin = binaries[name]
    if bin then
      describe(name, function()
        local out, code = H.run(q(bin))
        local results = 0
        for line in out:gmatch("[^\n]+") do
          local bad, msg = line:match("^not ok ([^:]+):?%s*(.*)$")
          local good = not bad and line:match("^ok (.+)$")
          if bad then
            results = results + 1
            it(bad, function() error(name .. ": " .. (msg ~= "" and msg or "failed"), 0) end)
          elseif good then
            results = results + 1
            it(good, function() end)
          end
        end
        it("exits with status 0 after reporting its checks", function()
          local tail = out:sub(-2000)
          assert(results > 0, name .. " printed no ok / not ok line:\n" .. tail)
          assert(code == 0, name .. " exited with status " .. tostring(code) .. ":\n" .. tail)
        end)
      end)
    end
  end
end)
