-- LuaRocks build: `luarocks --lua-version=5.4 make` in a checkout builds
-- with the Makefile and installs into the rock tree: the Lua library, the
-- C module moongrad.core and the host program `moongrad` (bin/). The C
-- library, its header and pkg-config file stay in the rock's own folder
-- (c/); `make install PREFIX=...` puts them where a C compiler looks.
rockspec_format = "3.0"
package = "moongrad"
version = "0.1.0-1"
source = {
  url = "git+file://.", -- built from a checkout (`luarocks make`); no release archive is published
}
description = {
  summary = "Deep-learning runtime: C tensors, autograd and kernels on OpenBLAS, a Lua 5.4 library and host program",
  detailed = [[
    moongrad is a C library of tensors, reverse-mode automatic
    differentiation and kernels, exposed to Lua 5.4 with PyTorch's names
    and Lua's 1-based indices, plus nn, optim, data, train and
    experiment packages written in Lua and a host program with a REPL.
  ]],
  license = "MIT",
}
dependencies = {
  "lua >= 5.4, < 5.5",
}
-- C libraries (OpenBLAS, zlib, readline, Lua's headers): the Makefile
-- checks for their Debian packages and installs the missing ones as root.
build = {
  type = "make",
  build_variables = {
    CFLAGS = "-O2 -march=native -g",
    LUA_INCDIR = "$(LUA_INCDIR)",
  },
  install_variables = {
    PREFIX = "$(PREFIX)",
    BINDIR = "$(BINDIR)",
    LUADIR = "$(LUADIR)",
    LUALIBDIR = "$(LIBDIR)",
    LIBDIR = "$(PREFIX)/c/lib",
    INCLUDEDIR = "$(PREFIX)/c/include",
    DATADIR = "$(PREFIX)/share",
  },
}
