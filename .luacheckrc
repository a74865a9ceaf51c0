-- luacheck configuration (`make lint`, run by CI): the Lua code is Lua 5.4
-- only, lines are at most 120 columns as in the C code, and spec files
-- may use busted's globals.
std = "lua54"
max_line_length = 120
-- `not (x >= 0)` is how the code says "x is not a number >= 0": unlike
-- `x < 0` it is also true for NaN, which an option check must refuse.
ignore = { "581" }
-- an unused `self` is the method's signature, not a mistake
self = false
exclude_files = { "build/**", "build-asan/**" }
files["spec/**/*.lua"] = { std = "+busted" }
-- numbers written by the fixture generators (spec/fixtures/make_*.py): data, not code to read
files["spec/fixtures/*.lua"] = { max_line_length = false }
-- config.ld is LDoc's configuration: fields it reads, set as globals
files["config.ld"] = {
  globals = { "project", "title", "description", "file", "dir", "format", "sort", "not_luadoc", "package",
    "merge" },
}
