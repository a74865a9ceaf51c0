--- The reference at run time: `help(mg.zeros)` in the REPL.
-- Reads the doc comments that LDoc also reads (`make doc`): a Lua
-- function's `---` block just above its definition (found through
-- `debug.getinfo`, so it works wherever the sources are installed), and
-- the `/*** ... */` blocks of the C bindings, which the C module carries
-- (`require "moongrad.core_docs"`). Also lists the public functions: the
-- ones the reference must document (see `public`).
-- @module moongrad.doc
local M = {}

-- ---- reading comment blocks ---------------------------------------------------

local file_cache = {}

local function file_lines(path)
  local lines = file_cache[path]
  if lines then return lines end
  lines = {}
  local f = io.open(path, "r")
  if f then
    for line in f:lines() do lines[#lines + 1] = line end
    f:close()
  end
  file_cache[path] = lines
  return lines
end

local function is_doc_start(line) return line:match("^%s*%-%-%-$") or line:match("^%s*%-%-%-[^%-]") end

-- The `---` block that ends on the line above `line` of a Lua file, as a
-- list of text lines (comment markers removed), or nil.
local function lua_block_above(path, line)
  local lines = file_lines(path)
  local i = line - 1
  local start
  while i >= 1 and lines[i]:match("^%s*%-%-") do
    if is_doc_start(lines[i]) then start = i end
    if start then break end
    i = i - 1
  end
  if not start then return nil end
  local out = {}
  for k = start, line - 1 do out[#out + 1] = (lines[k]:gsub("^%s*%-%-%-?%s?", "", 1)) end
  return out, start
end

-- Every `---` block of a Lua file: list of {lines = ..., line = first line}.
local function lua_blocks(path)
  local lines, blocks = file_lines(path), {}
  local i = 1
  while i <= #lines do
    if is_doc_start(lines[i]) then
      local b = { line = i, lines = {} }
      while i <= #lines and lines[i]:match("^%s*%-%-") do
        b.lines[#b.lines + 1] = (lines[i]:gsub("^%s*%-%-%-?%s?", "", 1))
        i = i + 1
      end
      blocks[#blocks + 1] = b
    else
      i = i + 1
    end
  end
  return blocks
end

-- The text lines of a C doc comment ("/*** ... */", each line's leading
-- " * " removed).
local function c_block_lines(text)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    line = line:gsub("^%s*/%*%*%*%s?", ""):gsub("%s*%*/%s*$", ""):gsub("^%s*%*%s?", "")
    out[#out + 1] = line
  end
  while out[1] == "" do table.remove(out, 1) end
  while out[#out] == "" do out[#out] = nil end
  return out
end

-- ---- parsing a block ------------------------------------------------------------

-- LDoc's shorthand tags for typed parameters.
local SHORT_TYPES = {
  int = "int", number = "number", string = "string", bool = "bool", tab = "table", func = "function",
  thread = "thread",
}

--- Parses the lines of a doc comment the way LDoc reads them.
-- @tparam {string,...} lines the comment's text lines, markers removed
-- @treturn table `{summary, description, params = {{name, type, desc, optional, default}},
--   returns = {{type, desc}}, usage, tags = {tag = {values}}}`
function M.parse(lines)
  local doc = { params = {}, returns = {}, tags = {}, text = {} }
  local current -- the tag whose text continues on the next lines
  for _, line in ipairs(lines) do
    local tag, rest = line:match("^%s*@(%w+)(.*)$")
    local mods = ""
    if tag then
      if rest:sub(1, 1) == "[" then mods, rest = rest:match("^(%b[])(.*)$") end
      mods, rest = mods or "", (rest or ""):match("^%s*(.-)%s*$")
      local opt = mods ~= "" and mods:match("^%[opt") ~= nil
      local default = mods:match("^%[opt=(.-)%]$")
      local entry
      if tag == "param" then
        local name, desc = rest:match("^(%S+)%s*(.*)$")
        entry = { name = name or "", desc = desc or "", optional = opt, default = default }
        doc.params[#doc.params + 1] = entry
      elseif tag == "tparam" or SHORT_TYPES[tag] then
        local ty, name, desc
        if tag == "tparam" then ty, name, desc = rest:match("^(%S+)%s+(%S+)%s*(.*)$")
        else ty = SHORT_TYPES[tag]; name, desc = rest:match("^(%S+)%s*(.*)$") end
        entry = { name = name or "", type = ty, desc = desc or "", optional = opt, default = default }
        doc.params[#doc.params + 1] = entry
      elseif tag == "return" then
        entry = { desc = rest }
        doc.returns[#doc.returns + 1] = entry
      elseif tag == "treturn" then
        local ty, desc = rest:match("^(%S+)%s*(.*)$")
        entry = { type = ty, desc = desc or "" }
        doc.returns[#doc.returns + 1] = entry
      elseif tag == "usage" then
        doc.usage = { rest ~= "" and rest or nil }
        entry = { usage = true }
      else
        doc.tags[tag] = doc.tags[tag] or {}
        table.insert(doc.tags[tag], rest)
        entry = { tag = tag }
      end
      current = entry
    elseif current then
      if current.usage then
        doc.usage[#doc.usage + 1] = line
      elseif current.desc then
        local l = line:match("^%s*(.-)%s*$")
        if l ~= "" then current.desc = (current.desc ~= "" and current.desc .. " " or "") .. l end
      end
    else
      doc.text[#doc.text + 1] = line
    end
  end
  if doc.usage then
    while doc.usage[#doc.usage] and doc.usage[#doc.usage]:match("^%s*$") do doc.usage[#doc.usage] = nil end
  end
  while doc.text[#doc.text] and doc.text[#doc.text]:match("^%s*$") do doc.text[#doc.text] = nil end
  local all = table.concat(doc.text, "\n")
  -- the summary is the first sentence, as LDoc takes it
  local summary, description = all:match("^(.-[%.%?!])%s+(.*)$")
  if not summary then summary, description = all, "" end
  doc.summary = summary:gsub("%s+", " ")
  doc.description = description
  return doc
end

-- ---- the C functions' blocks --------------------------------------------------

-- The doc comments of the C modules, by the table their functions are in:
-- package.loaded["moongrad.core_docs"] documents mg (and Tensor),
-- "moongrad.X_docs" documents mg.X. Within a table, by the name that
-- `@function` gives ("zeros", "Tensor:backward"); "@type T" and "@module M"
-- for those blocks. Read again when a C module has been loaded since.
local c_docs, c_docs_seen = {}, {}

local function load_c_docs()
  for modname, blocks in pairs(package.loaded) do
    local what = type(modname) == "string" and modname:match("^moongrad%.([%w_]+)_docs$")
    if what and type(blocks) == "table" and not c_docs_seen[modname] then
      c_docs_seen[modname] = true
      local docs = {}
      c_docs[what == "core" and "mg" or ("mg." .. what)] = docs
      for _, text in ipairs(blocks) do
        local doc = M.parse(c_block_lines(text))
        for _, name in ipairs(doc.tags["function"] or {}) do docs[name] = doc end
        for _, name in ipairs(doc.tags.type or {}) do docs["@type " .. name] = doc end
        for _, name in ipairs(doc.tags.module or {}) do docs["@module " .. name] = doc end
      end
    end
  end
  return c_docs
end

-- ---- the public functions -----------------------------------------------------

-- The file of a Lua function, and its first line.
local function where(fn)
  local info = debug.getinfo(fn, "S")
  if info.what == "C" or info.source:sub(1, 1) ~= "@" then return nil end
  return info.source:sub(2), info.linedefined
end

-- Names a lazy table offers beyond its fields: its metatable's `__lazy`
-- list (the submodules `require "moongrad"` loads on first use).
local function lazy_names(t)
  local mt = getmetatable(t)
  local lazy = type(mt) == "table" and rawget(mt, "__lazy")
  return type(lazy) == "table" and lazy or {}
end

local function is_class(t) return type(rawget(t, "__name")) == "string" and rawget(t, "__index") ~= nil end

-- A plain table named in PascalCase (mg.text.Tokenizer) groups functions
-- as a class would; ALL-CAPS names (MODELS, RECIPE) are constants.
local function is_namespace(key, t)
  return key:match("^%u%l") ~= nil and getmetatable(t) == nil and not require("moongrad").is_tensor(t)
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

-- The param names of a Lua function, without self.
local function param_names(fn)
  local info = debug.getinfo(fn, "u")
  local names = {}
  for i = 1, info.nparams do
    local n = debug.getlocal(fn, i)
    if n ~= "self" then names[#names + 1] = n end
  end
  return names, info.isvararg
end

local public_cache

--- The public API: every function, class and module reachable from
-- `require "moongrad"`, with its documentation.
--
-- Public means: the functions and tables that are fields of the module
-- table `mg` (its lazily loaded submodules included, as listed in the
-- `__lazy` field of a table's metatable), recursively through the fields
-- of those tables that are moongrad modules (`package.loaded["moongrad.*"]`),
-- classes (made by `mg.class`, own fields only) or namespaces (plain
-- tables with PascalCase names, as mg.text.Tokenizer); and the Tensor
-- methods (`mg.methods`). Names starting with `_` are private (this also
-- leaves out metamethods), and so is `mg.core`, the C module whose
-- functions `mg` carries. A method that overrides one of an ancestor class
-- shares the ancestor's documentation, except a constructor (`init`).
--
-- Where the documentation is: a Lua function's `---` block ends on the line
-- above its definition (or, for a function made elsewhere and assigned in
-- a module, `M.f = make_f()`, above that assignment); a C function's is
-- the `/*** */` block of the bindings whose `@function` names it; a
-- class's is a `---` block with `@type` and its name, in the file of its
-- methods; a module's is the `---` block that opens its file.
-- @tparam[opt] table opts `{fresh = false}`: true walks again instead of reusing the last walk
-- @treturn table `{entries = {...}, by_value = {value -> entry}}`; entries (sorted by name)
--   are `{name, kind = "function"|"method"|"class"|"module", value, doc, file, line, params,
--   inherits}`
function M.public(opts)
  if public_cache and not (opts and opts.fresh) then return public_cache end
  local mg = require "moongrad"
  -- module table -> module name, refreshed as walking loads submodules
  local modname = setmetatable({}, { __index = function(self, t)
    for name, m in pairs(package.loaded) do
      if type(m) == "table" and (name == "moongrad" or name:match("^moongrad%.")) and rawget(self, m) == nil then
        rawset(self, m, name)
      end
    end
    return rawget(self, t)
  end })
  local entries, seen, by_value = {}, {}, {}
  local function add(e)
    entries[#entries + 1] = e
    by_value[e.value] = by_value[e.value] or e
    return e
  end

  local function doc_of_function(fn, c_path, c_name)
    local file, line = where(fn)
    if file then
      local lines = lua_block_above(file, line)
      return lines and M.parse(lines), file, line
    end
    return (load_c_docs()[c_path] or {})[c_name], nil, nil
  end

  local walk
  -- The `---` block above `<table>.key = ...` in a module's file: the doc
  -- of a function made elsewhere and assigned there (M.f = make_f()).
  local function assignment_doc(module_file, key)
    if not module_file then return nil end
    local lines = file_lines(module_file)
    local pattern = "^%s*[%w_]+%." .. key:gsub("%p", "%%%0") .. "%s*="
    for i, l in ipairs(lines) do
      if l:match(pattern) then
        local block = lua_block_above(module_file, i)
        if block then return M.parse(block), i end
      end
    end
  end

  local function visit_function(fn, name, c_path, c_name, class_tbl, key, module_file)
    if seen[fn] then return end
    seen[fn] = true
    local doc, file, line = doc_of_function(fn, c_path, c_name)
    if not doc and module_file then
      local d, at = assignment_doc(module_file, key)
      if d then doc, file, line = d, module_file, at end
    end
    local e = add({ name = name, kind = class_tbl and "method" or "function", value = fn, doc = doc, file = file,
      line = line })
    if file then e.params, e.vararg = param_names(fn) end
    if class_tbl and key ~= "init" then
      local parent = rawget(class_tbl, "super")
      while parent do
        local f = rawget(parent, key)
        if type(f) == "function" and f ~= fn then e.inherits = f; break end
        parent = rawget(parent, "super")
      end
    end
  end

  -- the doc of a class: a block with `@type Short` in a file of its methods
  local function class_doc(t, short)
    -- the files of its methods; of its own metamethods when it has no
    -- methods; else of its parents' methods
    local files = {}
    local c, meta = t, false
    while c and not next(files) do
      for _, k in ipairs(sorted_keys(c)) do
        local v = rawget(c, k)
        local parent = rawget(c, "super")
        local own = not (meta and parent and parent[k] == v) -- metamethods are copied down
        if type(v) == "function" and (k:match("^__") ~= nil) == meta and own then
          local file = where(v)
          if file then files[file] = true end
        end
      end
      if meta then c = rawget(c, "super") end
      meta = not meta
    end
    for file in pairs(files) do
      for _, b in ipairs(lua_blocks(file)) do
        local d = M.parse(b.lines)
        for _, ty in ipairs(d.tags.type or {}) do
          if ty == short then return d, file, b.line end
        end
      end
    end
  end

  walk = function(t, path)
    if seen[t] then return end
    seen[t] = true
    local class_tbl = is_class(t) and t or nil
    local names = sorted_keys(t)
    for _, k in ipairs(lazy_names(t)) do
      if rawget(t, k) == nil then names[#names + 1] = k end
    end
    table.sort(names)
    local sep = class_tbl and ":" or "."
    -- functions first, then tables: a function reachable as mg.relu and as
    -- mg.nn.functional.relu is named by its shorter path
    local tables = {}
    for pass = 1, 2 do
    for _, k in ipairs(pass == 1 and names or tables) do
      if not k:match("^_") and k ~= "super" and not (t == mg and (k == "core" or k == "methods" or k == "Tensor")) then
        local v
        if class_tbl then v = rawget(t, k)
        else
          local ok, got = pcall(function() return t[k] end)
          v = ok and got or nil
          -- a listed submodule that is not there yet is left out; one that
          -- fails to load is a problem
          if not ok and not tostring(got):find("module '[^']*' not found") then
            add({ name = path .. "." .. k, kind = "module", load_error = tostring(got) })
          end
        end
        if type(v) == "function" then
          local mod = modname[t]
          visit_function(v, path .. sep .. k, path, k, class_tbl, k, mod and package.searchpath(mod, package.path))
        elseif pass == 1 then
          if type(v) == "table" then tables[#tables + 1] = k end
        elseif type(v) == "table" and not seen[v] and (modname[v] or is_class(v) or is_namespace(k, v)) then
          local mod = not is_class(v) and modname[v]
          -- an alias (nn.F beside nn.functional) is left to the module's own name
          local own = mod and mod:match("([^%.]+)$")
          if mod and own ~= k and rawget(t, own) == v then goto continue end
          if not mod and not is_class(v) then -- a namespace: documented by its functions
            add({ name = path .. "." .. k, kind = "namespace", value = v, doc = { summary = k, text = {},
              params = {}, returns = {}, tags = {} } })
          elseif mod then
            local file = package.searchpath(mod, package.path)
            local doc
            if file then
              local blocks = lua_blocks(file)
              if blocks[1] and blocks[1].line == 1 then doc = M.parse(blocks[1].lines) end
            else -- a C module: its `@module` block
              doc = (load_c_docs()[path .. "." .. k] or {})["@module " .. mod]
            end
            add({ name = path .. "." .. k, kind = "module", value = v, doc = doc, file = file, line = 1, module = mod })
          else
            local short = v.__name:match("([^%.]+)$")
            local doc, file, line = class_doc(v, short)
            add({ name = path .. "." .. k, kind = "class", value = v, doc = doc, file = file, line = line })
          end
          walk(v, path .. "." .. k)
        end
      end
      ::continue::
    end
    end
  end

  local file = package.searchpath("moongrad", package.path)
  local top
  if file then
    local blocks = lua_blocks(file)
    if blocks[1] and blocks[1].line == 1 then top = M.parse(blocks[1].lines) end
  end
  add({ name = "mg", kind = "module", value = mg, doc = top, file = file, line = 1, module = "moongrad" })
  walk(mg, "mg")
  add({ name = "Tensor", kind = "class", value = mg.methods, doc = load_c_docs().mg["@type Tensor"] })
  for _, k in ipairs(sorted_keys(mg.methods)) do
    local v = mg.methods[k]
    if type(v) == "function" and not k:match("^_") then
      if seen[v] then
        by_value[v].method_too = true
      else
        visit_function(v, "Tensor:" .. k, "mg", "Tensor:" .. k)
        by_value[v].kind = "method"
      end
    end
  end
  -- inherited docs
  for _, e in ipairs(entries) do
    if not e.doc and e.inherits and by_value[e.inherits] then
      e.doc = by_value[e.inherits].doc
      e.inherited_from = by_value[e.inherits].name
    end
  end
  table.sort(entries, function(a, b) return a.name < b.name end)
  public_cache = { entries = entries, by_value = by_value }
  return public_cache
end

--- What is missing from the public API's documentation.
-- @tparam[opt] table opts as for public
-- @treturn {string,...} one line per problem: a function, class or module
--   without a doc comment, or a Lua function parameter no `@param` names
function M.missing(opts)
  local problems = {}
  for _, e in ipairs(M.public(opts).entries) do
    local at = e.file and string.format(" (%s:%d)", e.file, e.line or 0) or ""
    if e.load_error then
      problems[#problems + 1] = string.format("module %s cannot be loaded: %s", e.name, e.load_error)
    elseif not e.doc or e.doc.summary == "" then
      local how = e.kind == "module" and (e.file and "a `---` block at the top of the file"
          or "a `/*** ... @module " .. tostring(e.module) .. " */` block in its C file")
        or e.kind == "class" and "a `---` block with `@type` naming the class"
        or e.file and "a `---` block just above the function"
        or "a `/*** ... @function " .. e.name:match("[^%.]+$") .. " */` block in the C file of "
          .. e.name:gsub("%.[^%.]+$", "")
      problems[#problems + 1] = string.format("%s %s has no doc comment%s: add %s", e.kind, e.name, at, how)
    elseif e.params and not e.inherited_from then
      local named = {}
      for _, p in ipairs(e.doc.params) do named[p.name] = true end
      for _, p in ipairs(e.params) do
        if not named[p] and not p:match("^_") then
          problems[#problems + 1] = string.format("%s %s: parameter '%s' has no @param%s", e.kind, e.name, p, at)
        end
      end
    end
  end
  return problems
end

-- ---- help --------------------------------------------------------------------------

local function signature(e)
  local doc = e.doc or { params = {} }
  local names = {}
  if e.params and not e.inherited_from then
    local opt = {}
    for _, p in ipairs(doc.params) do opt[p.name] = p.optional end
    for _, p in ipairs(e.params) do names[#names + 1] = opt[p] and ("[" .. p .. "]") or p end
    if e.vararg then names[#names + 1] = "..." end
  else
    for _, p in ipairs(doc.params) do
      if p.name == "..." or not p.name:find("%.") then
        names[#names + 1] = p.optional and ("[" .. p.name .. "]") or p.name
      end
    end
  end
  local name = e.name
  if e.kind == "method" and name:match(":init$") then name = name:gsub(":init$", "") end
  return name .. "(" .. table.concat(names, ", ") .. ")"
end

local function render(e)
  local out = {}
  local function add(s) out[#out + 1] = s end
  local doc = e.doc
  if e.kind == "function" or e.kind == "method" then add(signature(e)) else add(e.name .. " (" .. e.kind .. ")") end
  if e.method_too then add("  also a Tensor method: x:" .. e.name:match("[^%.:]+$") .. "(...)") end
  if not doc then
    add("  (no reference)")
    return table.concat(out, "\n")
  end
  if e.inherited_from then add("  (the reference of " .. e.inherited_from .. ")") end
  for _, l in ipairs(doc.text) do add("  " .. l) end
  if #doc.params > 0 then
    add("")
    add("  Parameters:")
    for _, p in ipairs(doc.params) do
      local kind = {}
      if p.type then kind[#kind + 1] = p.type end
      if p.optional then kind[#kind + 1] = p.default and ("optional, default " .. p.default) or "optional" end
      add(string.format("    %s%s  %s", p.name, #kind > 0 and (" (" .. table.concat(kind, ", ") .. ")") or "", p.desc))
    end
  end
  if #doc.returns > 0 then
    add("")
    add("  Returns:")
    for _, r in ipairs(doc.returns) do
      add("    " .. (r.type and (r.type .. (r.desc ~= "" and "  " or "")) or "") .. r.desc)
    end
  end
  if doc.usage then
    add("")
    add("  Example:")
    for _, l in ipairs(doc.usage) do add("    " .. l) end
  end
  if e.kind == "module" or e.kind == "class" then
    local members = {}
    local prefix = e.name .. (e.kind == "class" and ":" or ".")
    if e.name == "Tensor" then prefix = "Tensor:" end
    for _, m in ipairs(M.public().entries) do
      if m.name:sub(1, #prefix) == prefix and not m.name:sub(#prefix + 1):find("[%.:]") then
        members[#members + 1] = m
      elseif e.name == "Tensor" and m.method_too then
        members[#members + 1] = { name = prefix .. m.name:match("[^%.]+$"), doc = m.doc }
      end
    end
    table.sort(members, function(a, b) return a.name < b.name end)
    if #members > 0 then
      add("")
      add("  Contents:")
      local width = 0
      for _, m in ipairs(members) do width = math.max(width, #m.name - #prefix + 1) end
      width = math.min(width, 28)
      for _, m in ipairs(members) do
        local short = m.name:sub(#prefix + 1)
        if m.kind == "module" or m.kind == "class" then short = short .. "" end
        add(string.format("    %-" .. width .. "s  %s", short, m.doc and m.doc.summary or ""))
      end
    end
  end
  if e.file then add(""); add(string.format("  Source: %s:%d", e.file, e.line or 1)) end
  return table.concat(out, "\n")
end

--- The reference of a function, class or module, as text.
-- @param x a function or table of moongrad (`mg.zeros`, `mg.nn.Linear`,
--   `mg.nn`), a Tensor (its methods), or a name (`"zeros"`, `"nn.Linear"`,
--   `"Tensor:backward"`)
-- @treturn string the reference, or a message saying there is none
function M.text(x)
  local pub = M.public()
  local e
  if type(x) == "string" then
    local name = x:gsub("^mg%.", "")
    for _, cand in ipairs(pub.entries) do
      if cand.name == "mg." .. name or cand.name == name then e = cand; break end
    end
    if not e then
      for _, cand in ipairs(pub.entries) do
        if cand.name:match("[%.:]" .. name:gsub("%p", "%%%0") .. "$") then e = cand; break end
      end
    end
    if not e then return "no reference for '" .. x .. "'" end
  elseif type(x) == "userdata" and require("moongrad").is_tensor(x) then
    e = pub.by_value[require("moongrad").methods]
  else
    e = pub.by_value[x]
  end
  if not e and (type(x) == "function" or type(x) == "table") then
    if type(x) == "function" then
      local file, line = where(x)
      if file then
        local lines = lua_block_above(file, line)
        local params, vararg = param_names(x)
        e = { name = "function", kind = "function", doc = lines and M.parse(lines), file = file, line = line,
          params = params, vararg = vararg }
      end
    end
    if not e then return "no reference: not a public function, class or module of moongrad" end
  end
  if not e then return "help: give a function, class or module of moongrad, or its name" end
  return render(e)
end

--- Prints the reference of a function, class or module (the REPL's `help`
-- and `?name`). Without an argument, says how to use it.
-- @param x what to look up (see `text`)
-- @usage help(mg.zeros)
-- help(mg.nn.Linear)
-- help("Tensor:backward")
function M.help(x)
  if x == nil then
    print("help(f) prints the reference of a moongrad function, class or module:\n"
      .. "  help(mg.zeros)  help(mg.nn.Linear)  help(mg.nn)  help(\"Tensor:backward\")\n"
      .. "In the REPL, ?mg.zeros does the same. `make doc` writes the whole reference as HTML.")
    return
  end
  print(M.text(x))
end

return M
