# moongrad: `make help` lists the targets.
#
# Builds build/libmoongrad.a (the C core), build/moongrad/core.so (the Lua
# module, loadable by lua5.4 and busted) and bin/moongrad (the host
# program, which links the same objects and preloads the module); and,
# where MPI is installed, build/moongrad/dist.so (mg.dist, data
# parallelism over MPI), which nothing else links.

CC      ?= gcc
OPT     ?= -O2 -march=native
CFLAGS  ?= $(OPT) -g
WARN     = -Wall -Wextra -Wno-unused-parameter
LUA_INCDIR ?= /usr/include/lua5.4
BASEFLAGS = -std=gnu11 -fPIC -fopenmp -fno-math-errno -fno-trapping-math $(WARN) \
            -I$(LUA_INCDIR) -MMD -MP
LIBS     = -lopenblas -lz -lm -fopenmp
LUA      = lua5.4
BUSTED   = /usr/bin/busted

BUILD   ?= build
BIN     ?= bin

CORE_SRC = $(wildcard core/*.c)
BIND_SRC = $(filter-out bindings/main.c,$(wildcard bindings/*.c))
CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
# the bindings' doc comments, compiled into the module for `help`
DOCS_OBJ = $(BUILD)/gen/core_docs.o
BIND_OBJ = $(BIND_SRC:%.c=$(BUILD)/%.o) $(DOCS_OBJ)
MAIN_OBJ = $(BUILD)/bindings/main.o

# Debian packages: to build, to test, for the full data, for the benchmark.
# npm comes with nodejs here (Debian's npm package conflicts with it): the
# data script checks for the npm command instead of listing the package.
DEBS_BUILD = gcc make libc6-dev lua5.4 liblua5.4-dev libopenblas-dev zlib1g-dev libreadline-dev
DEBS_TEST  = lua-busted lua-ldoc lua-markdown luarocks pkg-config
DEBS_DATA  = dataset-fashion-mnist nodejs wordnet-base
DEBS_BENCH = python3 python3-torch libjemalloc2
DEBS_DOC   = lua-ldoc lua-markdown
DEBS_LINT  = lua-check
DEBS_DIST  = libopenmpi-dev openmpi-bin

MPICC    ?= mpicc
DIST_SRC  = $(wildcard bindings/dist/*.c)
DIST_OBJ  = $(DIST_SRC:%.c=$(BUILD)/%.o)

.PHONY: all help test check-c asan demo bench data deps clean distclean install uninstall dist doc lint

all: $(BUILD)/libmoongrad.a $(BUILD)/moongrad/core.so $(BIN)/moongrad dist

help:
	@echo "make            build the core library, the Lua module and bin/moongrad"
	@echo "make test       build and run the specs (busted) and C kernel tests"
	@echo "make asan       build with address + undefined-behaviour sanitizers and run the specs"
	@echo "make demo       a short experiment on the bundled data (rotation SSL + attacks)"
	@echo "make bench      moongrad vs PyTorch side by side (bench/)"
	@echo "make data       fetch the full sets: MNIST, Fashion-MNIST, IMDB, SpamAssassin, WordNet"
	@echo "make deps       install missing Debian packages (as root) or say which"
	@echo "make doc        the API reference, HTML in build/doc/ (LDoc, from the doc comments)"
	@echo "make lint       luacheck over every Lua file (.luacheckrc); fails on any warning"
	@echo "make install    install into PREFIX (default /usr/local; DESTDIR for staging)"
	@echo "make uninstall  remove what make install put into PREFIX"
	@echo "make clean      remove build outputs"

# Installs the missing packages of a list as root, or names the command to run.
define need_debs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
	      || { echo "apt-get could not install:$$missing"; exit 1; }; \
	  else \
	    echo "missing Debian packages:$$missing"; echo "install them with: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi
endef

$(BUILD)/.deps-build:
	$(call need_debs,$(DEBS_BUILD))
	@mkdir -p $(BUILD) && touch $@

$(BUILD)/.deps-test: $(BUILD)/.deps-build
	$(call need_debs,$(DEBS_TEST))
	@touch $@

# MPI is optional: without it (and not root to install it) the rest builds.
$(BUILD)/.deps-dist: $(BUILD)/.deps-build
	-$(call need_debs,$(DEBS_DIST))
	@touch $@

deps: $(BUILD)/.deps-test $(BUILD)/.deps-dist

$(BUILD)/%.o: %.c | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/core_docs.c: $(BIND_SRC) bindings/core_docs.lua | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(LUA) bindings/core_docs.lua $(BIND_SRC) > $@.tmp && mv $@.tmp $@

$(DOCS_OBJ): $(BUILD)/gen/core_docs.c
	$(CC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libmoongrad.a: $(CORE_OBJ)
	ar rcs $@ $^

# The module does not link liblua: the host process (lua5.4 or busted) provides it.
$(BUILD)/moongrad/core.so: $(BIND_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(CC) -shared $(CFLAGS) -o $@ $^ $(LIBS)

# moongrad.dist: compiled and linked with mpicc, when there is one (it
# may have been installed by the step above, after this Makefile was read).
dist: $(BUILD)/.deps-dist
	@if command -v $(MPICC) >/dev/null 2>&1; then \
	  $(MAKE) -q $(BUILD)/moongrad/dist.so 2>/dev/null || $(MAKE) --no-print-directory $(BUILD)/moongrad/dist.so; \
	else echo "$(MPICC) not found: mg.dist (MPI) is not built; make deps installs Open MPI"; fi

$(BUILD)/bindings/dist/%.o: bindings/dist/%.c | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(MPICC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/dist_docs.c: $(DIST_SRC) bindings/core_docs.lua | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(LUA) bindings/core_docs.lua --name mgl_dist_docs $(DIST_SRC) > $@.tmp && mv $@.tmp $@

$(BUILD)/gen/dist_docs.o: $(BUILD)/gen/dist_docs.c
	$(CC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/moongrad/dist.so: $(DIST_OBJ) $(BUILD)/gen/dist_docs.o
	@mkdir -p $(dir $@)
	$(MPICC) -shared $(CFLAGS) -o $@ $^

$(BIN)/moongrad: $(MAIN_OBJ) $(BIND_OBJ) $(BUILD)/libmoongrad.a
	@mkdir -p $(BIN)
	$(CC) $(CFLAGS) -o $@ $(MAIN_OBJ) $(BIND_OBJ) $(BUILD)/libmoongrad.a -llua5.4 -lreadline $(LIBS)

# C kernel tests: tuned kernels against their naive twins.
CTEST_SRC = $(wildcard spec/c/*.c)
CTEST_BIN = $(CTEST_SRC:spec/c/%.c=$(BUILD)/ctest/%)
$(BUILD)/ctest/%: spec/c/%.c $(BUILD)/libmoongrad.a
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -Icore -o $@ $< $(BUILD)/libmoongrad.a $(LIBS)

# The specs run against the freshly built module and host program; the
# summary handler prints the closing "N passed, N failed" line. busted runs
# in plain lua, so the short OpenMP spin the host sets for itself is set
# here (on a busy machine the default spin makes the suite many times slower).
# The kernels keep the thread count a spec sets, load or not
# (MG_THREAD_ADAPT=0), so that 2-thread paths are tested on a busy machine.
test: all $(CTEST_BIN) $(BUILD)/.deps-test
	@MOONGRAD_BIN=$(abspath $(BIN)/moongrad) MOONGRAD_CTEST=$(abspath $(BUILD)/ctest) MOONGRAD_BUILD=$(abspath $(BUILD)) \
	  GOMP_SPINCOUNT=$${GOMP_SPINCOUNT:-10000} MG_THREAD_ADAPT=0 \
	  $(LUA) $(BUSTED) --ignore-lua --run=default --cpath='$(BUILD)/?.so' $(SPEC)

# Sanitizer build (in ASAN_BUILD): the host program built with ASan+UBSan
# runs busted itself, and the C tests are built with the same flags.
ASAN_BUILD ?= build-asan
ASAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
asan: $(BUILD)/.deps-test
	$(MAKE) --no-print-directory BUILD=$(ASAN_BUILD) BIN=$(ASAN_BUILD)/bin CFLAGS="$(ASAN_FLAGS)" \
	  $(ASAN_BUILD)/bin/moongrad $(ASAN_BUILD)/moongrad/core.so $(CTEST_SRC:spec/c/%.c=$(ASAN_BUILD)/ctest/%) dist
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
	  LSAN_OPTIONS=suppressions=$(abspath spec/support/lsan.supp) \
	  MOONGRAD_BIN=$(abspath $(ASAN_BUILD)/bin/moongrad) MOONGRAD_CTEST=$(abspath $(ASAN_BUILD)/ctest) \
	  MOONGRAD_BUILD=$(abspath $(ASAN_BUILD)) \
	  MOONGRAD_ASAN=1 MG_THREAD_ADAPT=0 $(ASAN_BUILD)/bin/moongrad $(BUSTED) --ignore-lua --run=asan $(SPEC)

# Rotation pretraining + probe and an attack table, on the bundled sample.
demo: all
	@$(BIN)/moongrad examples/demo.lua

# bench/core: matmul against raw cblas_sgemm and elementwise ops against
# memory bandwidth (core_ref measures the C side); then the side-by-side
# suite bench/run.lua, where present.
$(BUILD)/bench/core_ref: bench/core/ref.c | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< $(LIBS)

# bench/peak: the machine's FMA peak, the yardstick of the suite's GFLOP/s.
$(BUILD)/bench/peak: bench/peak.c | $(BUILD)/.deps-build
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -o $@ $< -fopenmp

# Without PyTorch (not installable here) the suite runs its moongrad side
# and says that the PyTorch columns are skipped. With Open MPI, bench/dist
# then sets 2 ranks x 1 thread against 1 process x 2 threads.
bench: all $(BUILD)/bench/core_ref $(BUILD)/bench/peak
	@$(BIN)/moongrad bench/core/run.lua --ref $(BUILD)/bench/core_ref
ifneq ($(wildcard bench/run.lua),)
	-$(call need_debs,$(DEBS_BENCH))
	@$(BIN)/moongrad bench/run.lua --peak $(BUILD)/bench/peak $(BENCH_ARGS)
endif
	@if command -v mpirun >/dev/null 2>&1 && [ -f $(BUILD)/moongrad/dist.so ]; then \
	  $(BIN)/moongrad bench/dist/run.lua; \
	else echo "Open MPI or moongrad.dist missing: the data-parallel benchmark (bench/dist) is skipped"; fi

data: all
	@MOONGRAD=$(abspath $(BIN)/moongrad) sh data/fetch.sh

# The API reference (config.ld says which files, in which order). LDoc
# notes each module it merges; those lines are dropped, its warnings kept.
$(BUILD)/.deps-doc: $(BUILD)/.deps-build
	$(call need_debs,$(DEBS_DOC))
	@touch $@

doc: $(BUILD)/.deps-doc
	@rm -rf $(BUILD)/doc
	@ldoc -d $(BUILD)/doc . > $(BUILD)/doc.log 2>&1; rc=$$?; \
	grep -v -e '^found master module' -e '^\*\*\*closing section' -e '^reading configuration' \
	  -e '^format: ' -e '^output written' $(BUILD)/doc.log; \
	if [ $$rc != 0 ] || grep -q -e ':[0-9][0-9]*: ' -e 'LDoc error' $(BUILD)/doc.log; then \
	  echo "make doc: LDoc reported the problems above"; exit 1; fi
	@echo "the reference is in $(BUILD)/doc/index.html"

# luacheck with the project's settings (.luacheckrc): every Lua file of
# the tree, and the Lua-syntax configuration files.
$(BUILD)/.deps-lint: $(BUILD)/.deps-build
	$(call need_debs,$(DEBS_LINT))
	@touch $@

lint: $(BUILD)/.deps-lint
	@luacheck --no-color -q . .busted .luacheckrc config.ld $(wildcard *.rockspec)

# Install layout (every folder can be set on its own; luarocks sets them to
# its rock tree, see moongrad-*.rockspec): the host program, the Lua library
# where lua5.4 looks for it (LUA_PATH), the C module where it looks for C
# modules (LUA_CPATH), the C library with its header and pkg-config file,
# and the bundled data sample. The host finds the Lua library from its own
# place (PREFIX/bin -> PREFIX/share/lua/5.4), so the prefix can move;
# moongrad/installed.lua tells the library where its data went.
PREFIX       ?= /usr/local
BINDIR       ?= $(PREFIX)/bin
LUADIR       ?= $(PREFIX)/share/lua/5.4
LUALIBDIR    ?= $(PREFIX)/lib/lua/5.4
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR      ?= $(PREFIX)/share/moongrad
LUA_FILES    = $(shell find lua -name '*.lua' | sort)
DATA_FILES   = $(shell find data/sample -type f | sort)

install: all
	@set -e; d='$(DESTDIR)'; \
	install -d "$$d$(BINDIR)" "$$d$(LUALIBDIR)/moongrad" "$$d$(LIBDIR)" "$$d$(INCLUDEDIR)/moongrad" "$$d$(PKGCONFIGDIR)"; \
	install -m 755 $(BIN)/moongrad "$$d$(BINDIR)/moongrad"; \
	install -m 755 $(BUILD)/moongrad/core.so "$$d$(LUALIBDIR)/moongrad/core.so"; \
	if [ -f $(BUILD)/moongrad/dist.so ]; then install -m 755 $(BUILD)/moongrad/dist.so "$$d$(LUALIBDIR)/moongrad/dist.so"; fi; \
	install -m 644 $(BUILD)/libmoongrad.a "$$d$(LIBDIR)/libmoongrad.a"; \
	install -m 644 core/mg.h "$$d$(INCLUDEDIR)/moongrad/mg.h"; \
	for f in $(LUA_FILES); do install -D -m 644 "$$f" "$$d$(LUADIR)/$${f#lua/}"; done; \
	for f in $(DATA_FILES); do install -D -m 644 "$$f" "$$d$(DATADIR)/$$f"; done; \
	printf -- '-- Written by make install: where this installation keeps its data.\nreturn { data_dir = %s }\n' \
	  "'$(DATADIR)/data'" > "$$d$(LUADIR)/moongrad/installed.lua"; \
	version=$$(sed -n 's/^#define MG_VERSION "\(.*\)"/\1/p' core/mg.h); \
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' 'includedir=$(INCLUDEDIR)/moongrad' '' \
	  'Name: moongrad' 'Description: tensors, autograd and kernels (the C core of moongrad)' \
	  "Version: $$version" 'Cflags: -I$${includedir}' \
	  'Libs: -L$${libdir} -lmoongrad $(LIBS)' > "$$d$(PKGCONFIGDIR)/moongrad.pc"; \
	echo "installed moongrad into $$d$(PREFIX)"

uninstall:
	@d='$(DESTDIR)'; \
	rm -f "$$d$(BINDIR)/moongrad" "$$d$(LUALIBDIR)/moongrad/core.so" "$$d$(LUALIBDIR)/moongrad/dist.so" "$$d$(LIBDIR)/libmoongrad.a" \
	  "$$d$(INCLUDEDIR)/moongrad/mg.h" "$$d$(PKGCONFIGDIR)/moongrad.pc"; \
	rm -rf "$$d$(LUADIR)/moongrad" "$$d$(DATADIR)"; \
	rmdir "$$d$(LUALIBDIR)/moongrad" "$$d$(INCLUDEDIR)/moongrad" 2>/dev/null || true

clean:
	rm -rf $(BUILD) build-asan $(BIN)

-include $(CORE_OBJ:.o=.d) $(BIND_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(DIST_OBJ:.o=.d)
