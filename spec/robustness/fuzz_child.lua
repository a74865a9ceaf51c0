-- The bad-argument fuzzer, run by fuzz_spec.lua in a child host process
-- (so that a crash is seen as a crash, and relative paths land in a
-- scratch folder: the parent starts it there).
--
--   moongrad fuzz_child.lua SEED SECONDS SCRATCH [NAME...]
--
-- Calls every function of moongrad.core, every Tensor method and
-- metamethod, and the Lua functions of the moongrad module, many times
-- under pcall with random bad arguments. Each call must return or raise a
-- string. Prints "fn NAME" before each function (the last one printed
-- names the culprit of a crash), "bad NAME: ARGS -> ERROR" for an error
-- that is not a string, and a closing "done ..." line with counts.
-- MG_FUZZ_VERBOSE=1 prints every call before making it; MG_FUZZ_CALLS sets
-- the most calls per function (1000); NAME arguments limit the run to
-- those functions ("core.add", "method.view", "meta.__index", "mg.no_grad").
local mg = require "moongrad"
local core = require "moongrad.core"

local seed, seconds, scratch = tonumber(arg[1]) or 1, tonumber(arg[2]) or 3, arg[3] or "."
local only = {}
for i = 4, #arg do only[arg[i]] = true end
local verbose = os.getenv("MG_FUZZ_VERBOSE") == "1"
local CALLS = tonumber(os.getenv("MG_FUZZ_CALLS")) or 1000 -- per function, unless its time share runs out

-- Functions not fuzzed: name ("core.x", "method.x", "meta.__x", "mg.x")
-- -> the reason. Paths are safe without skipping:
-- the process runs in a scratch folder and absolute paths in the pools
-- point into it or nowhere.
local SKIP = {
  ["mg.attack.synonym.load_wordnet"] =
    "reads all of WordNet (seconds) when its arguments are right; synonym_spec checks its errors",
}

math.randomseed(seed)
mg.manual_seed(seed)
local R = math.random
local function pick(list) return list[R(#list)] end

-- ---- values -------------------------------------------------------------------

local function closed(t)
  getmetatable(t).__close(t)
  return t
end

-- Each generator makes a fresh value, so in-place writes, __gc and
-- __close in one call do not leak into the next.
local tensor_gens = {
  function() return mg.scalar(2.5) end,
  function() return mg.randn(3) end,
  function() return mg.randn(2, 3) end,
  function() return mg.randn(3, 2) end,
  function() return mg.randn(2, 3, 4) end,
  function() return mg.rand(2, 1, 5, 5) end,
  function() return mg.rand(1, 1, 28, 28) end,
  function() return mg.zeros(0) end,
  function() return mg.zeros(2, 0) end,
  function() return mg.zeros(0, 3, 0) end,
  function() return mg.ones(1, 1, 1, 1, 1, 1, 2, 1) end, -- 8 dims
  function() return mg.randn(4, 3):t() end,               -- not contiguous
  function() return mg.randn(3, 1):expand(3, 4) end,      -- stride 0
  function() return mg.randn(6):narrow(1, 2, 3) end,      -- offset
  function() return mg.tensor({ 0, 1, 2 }, { dtype = "int64" }) end,
  function() return mg.tensor({ -1, 5, 2 ^ 40 }, { dtype = "int64" }) end,
  function() return mg.tensor({ { 1, 0 }, { 3, 2 } }, { dtype = "int64" }) end,
  function() return mg.tensor({ 0, 255, 7 }, { dtype = "uint8" }) end,
  function() return mg.tensor({ 0 / 0, 1 / 0, -1 / 0 }) end,
  function() return mg.randn(2, 3):requires_grad_() end,
  function() return (mg.randn(2, 3):requires_grad_() * 2) end, -- has a grad_fn
  function() return mg.randn(5):requires_grad_():relu() end,
  function() return closed(mg.ones(2)) end,
  function() return closed(mg.zeros(2, 2)) end,
}

local recent = {} -- tensors returned by earlier calls, fed back in

local function any_tensor()
  if #recent > 0 and R() < 0.25 then return recent[R(#recent)] end
  return pick(tensor_gens)()
end

local NUMBERS = {
  0, 1, 2, 3, -1, -2, 0.5, -0.5, 1.5, 1e-30, 0 / 0, 1 / 0, -1 / 0,
  2 ^ 31, 2 ^ 32 + 1, 2 ^ 53, 2 ^ 62, math.maxinteger, math.mininteger, -2 ^ 31,
  1e300, -1e300, 1 << 31, 1 << 40, -(1 << 40), 65537,
}
local SMALL = { 1, 2, 3, -1, 0, 1, 2 }

local STRINGS = {
  "", "float32", "int64", "uint8", "bogus", "mean", "sum", "none", "grad", "requires_grad",
  "dtype", "shape", "\0", string.rep("x", 5000), scratch .. "/fuzz_file", scratch .. "/fuzz.safetensors",
  scratch .. "/fuzz.png", scratch .. "/fuzz-idx.gz", "/nonexistent/fuzz/x", scratch .. "/no/such/dir/x",
  "%s%s%n", "{\"a\": 1}",
  -- text: invalid UTF-8 (lone bytes, a cut character, a surrogate), a long word, mixed scripts
  "ab\xff\xfe c\xe2\x82 \xed\xa0\x80", string.rep("abcdefghij", 3000), "Don't  STOP! \u{4e2d}\u{6587} \u{1F600}",
  "[CLS] [MASK] ##x <0x41>",
}

local function deep_table(n)
  local t = {}
  local cur = t
  for _ = 1, n do cur[1] = {}; cur = cur[1] end
  return t
end

local function junk_number() return pick(NUMBERS) end

local function options_table()
  local keys = { "dim", "keepdim", "dtype", "lr", "momentum", "eps", "reduction", "weight", "bias",
    "stride", "padding", "dilation", "kernel_size", "training", "p", "retain_graph", "grad_outputs",
    "size", "color", "font", "gzip", "metadata", "ignore_index", "label_smoothing", "betas",
    "requires_grad", "descending", "largest", "sorted", "minlength", "weights", "keys",
    "attn_mask", "key_padding_mask", "is_causal", "dropout_p", "scale", "attn_mask_blocks", "keep_weights",
    "vocab_size", "min_frequency", "max_word_chars", "lowercase", "max_length", "head", "add_special_tokens",
    "skip_special_tokens", "separator", "limit", "window", "stride", "cls", "pad", "split", "source", "relu",
    "pool" }
  local t = {}
  for _ = 1, R(0, 4) do
    local k = pick(keys)
    local r = R()
    if r < 0.3 then t[k] = junk_number()
    elseif r < 0.45 then t[k] = pick(STRINGS)
    elseif r < 0.6 then t[k] = R() < 0.5
    elseif r < 0.75 then t[k] = any_tensor()
    else t[k] = { junk_number(), junk_number() } end
  end
  return t
end

local table_gens = {
  function() return {} end,
  function() return { "a b", "", pick(STRINGS), pick(STRINGS) } end, -- texts
  function() return { 3, 6, 1, 99999, -2, 0 } end,                   -- token ids
  function() return { {} } end,
  function() return { 1, 2, 3 } end,
  function() return { 2, 3 } end,
  function() return { { 1, 2 }, { 3 } } end, -- ragged
  function() return { 1, "a", true } end,
  function() return { nil, 2 } end,
  function() return { 1 / 0, 0 / 0 } end,
  function() return { 2 ^ 40, 2 ^ 40 } end,
  function() return { -1, -1 } end,
  function() return { 1, 1, 1, 1, 1, 1, 1, 1, 1 } end, -- 9 dims
  function() return deep_table(300) end,
  function() return { any_tensor(), any_tensor() } end,
  function() return { any_tensor(), "x" } end,
  function() return { any_tensor(), closed(mg.ones(1)) } end,
  function() return options_table() end,
  function() return options_table() end,
  -- Torch7 slicing keys (meta.__index, __newindex): ranges, negatives, empty and reversed
  function() return { {}, { 1, 2 } } end,
  function() return { { -1, 1 }, 2 } end,
  function() return { { 2, 1 }, { 1, -1 } } end,
  function() return { 1, { 1 }, {} } end,
  function() return { { 0, 2 ^ 40 }, -(2 ^ 40) } end,
  function() return setmetatable({}, { __index = function() error("fuzz: __index raised") end }) end,
  function() return setmetatable({}, { __len = function() return 2 ^ 40 end }) end,
  function() return setmetatable({ 1, 2 }, { __len = function() return -5 end }) end,
}

local other_gens = {
  function() return nil end,
  function() return true end,
  function() return false end,
  function() return function() end end,
  function() return function(...) return ... end end,
  function() return io.stdout end, -- userdata of another kind
  function() return coroutine.create(function() end) end,
  function() return pick(STRINGS) end,
  function() return pick(STRINGS) end,
}

local function any_value()
  local r = R()
  if r < 0.30 then return any_tensor() end
  if r < 0.50 then return pick(SMALL) end
  if r < 0.68 then return junk_number() end
  if r < 0.85 then return pick(table_gens)() end
  return pick(other_gens)()
end

-- ---- descriptions (for reports) ----------------------------------------------------

local function describe(v, depth)
  depth = depth or 0
  local ty = type(v)
  if ty == "userdata" and mg.is_tensor(v) then
    local ok, s = pcall(function() return "Tensor[" .. table.concat(v:shape(), ",") .. "] " .. v.dtype end)
    return ok and s or "closed Tensor"
  end
  if ty == "string" then
    return #v > 40 and string.format("%q..(%d bytes)", v:sub(1, 20), #v) or string.format("%q", v)
  end
  if ty == "number" then return math.type(v) == "integer" and tostring(v) or string.format("%.17g", v) end
  if ty == "table" then
    if depth > 1 then return "{...}" end
    local parts = {}
    for k, x in pairs(v) do
      if #parts >= 6 then parts[#parts + 1] = "..."; break end
      parts[#parts + 1] = (type(k) == "string" and k .. "=" or "") .. describe(x, depth + 1)
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return ty
end

local function describe_args(args)
  local parts = {}
  for i = 1, args.n do parts[i] = describe(args[i]) end
  return "(" .. table.concat(parts, ", ") .. ")"
end

-- ---- the functions -----------------------------------------------------------------

local targets = {} -- {name = "core.add", fn = f, kind = "module" | "method" | "meta"}
local seen = {}
local function add(name, fn, kind)
  if type(fn) ~= "function" then return end
  if next(only) and not only[name] then return end
  if SKIP[name] then print("skip " .. name .. ": " .. SKIP[name]); return end
  targets[#targets + 1] = { name = name, fn = fn, kind = kind }
end
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if type(k) == "string" then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end
for _, k in ipairs(sorted_keys(core)) do add("core." .. k, core[k], "module"); seen[core[k]] = true end
for _, k in ipairs(sorted_keys(core.methods)) do add("method." .. k, core.methods[k], "method") end
local meta = getmetatable(mg.ones(1))
for _, k in ipairs(sorted_keys(meta)) do add("meta." .. k, meta[k], "meta") end
for _, k in ipairs(sorted_keys(mg)) do
  if not seen[mg[k]] then add("mg." .. k, mg[k], "module") end
end
-- the data protocol and the engine's constructors
for _, name in ipairs({ "data.TensorDataset", "data.DataLoader", "train.Trainer" }) do
  local pkg, cls = name:match("^(%w+)%.(%w+)$")
  add("mg." .. name, function(...) return mg[pkg][cls](...) end, "module")
end
add("mg.nn.utils.inference", mg.nn.utils.inference, "module")
-- mg.dist, where it is built: a world of one in this plain process.
if package.searchpath("moongrad.dist", package.cpath) then
  local dist = mg.dist
  dist.init()
  SKIP["dist.abort"] = "ends the process, by design"
  for _, k in ipairs(sorted_keys(dist)) do add("dist." .. k, dist[k], "module") end
end
-- text: the tokenizer's methods on a trained tokenizer (and on any value
-- as self), the text sets' loaders and the token datasets
local fuzz_tok = mg.text.Tokenizer.train({ "the movie was good", "Don't stop, the film!", "\u{4e2d}\u{6587}" },
  { vocab_size = 720, min_frequency = 1 })
local tok_methods = getmetatable(fuzz_tok).methods
for _, k in ipairs(sorted_keys(tok_methods)) do
  add("tokenizer." .. k, function(...) return tok_methods[k](fuzz_tok, ...) end, "module")
  add("tokenizer_any." .. k, tok_methods[k], "method")
end
for _, k in ipairs({ "__index", "__len", "__tostring" }) do
  add("tokenizer_meta." .. k, getmetatable(fuzz_tok)[k], "meta")
end
for _, k in ipairs(sorted_keys(mg.text)) do add("mg.text." .. k, mg.text[k], "module") end
for _, k in ipairs(sorted_keys(mg.text.Tokenizer)) do add("mg.text.Tokenizer." .. k, mg.text.Tokenizer[k], "module") end
for _, name in ipairs({ "imdb", "spam", "wordnet", "TextDataset", "text_file" }) do
  add("mg.data." .. name, function(...) return mg.data[name](...) end, "module")
end
-- mostly with the tokenizer, sometimes with whatever came
local function some_tok(b) return R() < 0.7 and fuzz_tok or b end
add("mg.data.TokenizedDataset", function(a, b, c) return mg.data.TokenizedDataset(a, some_tok(b), c) end, "module")
add("mg.data.TokenWindows", function(a, b, c) return mg.data.TokenWindows(a, some_tok(b), c) end, "module")
local fuzz_windows = mg.data.TokenWindows({ "the movie was good, the film was bad" }, fuzz_tok, { window = 3 })
local fuzz_tokenized = mg.data.TokenizedDataset({ "the movie", "good" }, fuzz_tok)
add("TokenWindows.batch", function(...) return fuzz_windows:batch(...) end, "module")
add("TokenizedDataset.batch", function(...) return fuzz_tokenized:batch(...) end, "module")
-- the Lua packages whose functions take tensors from users
local PACKAGES = { attack = mg.attack, ["attack.losses"] = mg.attack.losses, ["attack.embedding"] = mg.attack.embedding,
  ["attack.synonym"] = mg.attack.synonym }
for _, p in ipairs(sorted_keys(PACKAGES)) do
  for _, k in ipairs(sorted_keys(PACKAGES[p])) do add("mg." .. p .. "." .. k, PACKAGES[p][k], "module") end
end

-- The random augmentations (constructors and the transforms they make)
-- and the functions of mg.ssl's joint-embedding methods and k-NN monitor.
local augment = require "moongrad.data.augment"
for _, k in ipairs(sorted_keys(augment)) do
  add("augment." .. k, augment[k], "module")
  local ok, transform = pcall(augment[k])
  if ok then add("augment." .. k .. "()", transform, "module") end
end
for _, part in ipairs({ "methods", "knn" }) do
  local m = require("moongrad.ssl." .. part)
  for _, k in ipairs(sorted_keys(m)) do add("ssl." .. k, m[k], "module") end
end
add("mg.text.baseline.NgramDataset", function(...) return mg.text.baseline.NgramDataset(...) end, "module")
add("mg.text.baseline.accuracy", mg.text.baseline.accuracy, "module")
local fuzz_ngrams = mg.text.baseline.NgramDataset({ "good movie", "bad film, bad" }, nil, { buckets = 64 })
add("NgramDataset.batch", function(...) return fuzz_ngrams:batch(...) end, "module")
local skipped = 0
for _ in pairs(SKIP) do skipped = skipped + 1 end

-- ---- the run -------------------------------------------------------------------------

local threads = mg.get_num_threads()
local calls, raised, bad = 0, 0, 0
local share = seconds / #targets
io.stdout:setvbuf("line")

-- Each function gets its own random stream and pool of earlier results, so
-- its calls do not depend on what ran before it: a failure found in the
-- full run repeats when the run is limited to that function.
local function stream_of(name)
  local h = 0
  for i = 1, #name do h = (h * 31 + name:byte(i)) % 2147483647 end
  return h
end

for _, target in ipairs(targets) do
  print("fn " .. target.name)
  math.randomseed(seed, stream_of(target.name))
  mg.manual_seed(seed)
  recent = {}
  local started = os.clock()
  for c = 1, CALLS do
    if c > 1 and os.clock() - started > share then break end
    local args = { n = R(0, 5) }
    for i = 1, args.n do args[i] = any_value() end
    if args.n >= 1 then
      local p = target.kind == "module" and 0.5 or 0.85
      if R() < p then args[1] = any_tensor() end
    end
    if verbose then print("call " .. target.name .. describe_args(args)) end
    local grad_mode = R() < 0.2
    if grad_mode then mg.set_grad_enabled(false) end
    local result = table.pack(pcall(target.fn, table.unpack(args, 1, args.n)))
    mg.set_grad_enabled(true)
    mg.set_num_threads(threads)
    calls = calls + 1
    if not result[1] then
      raised = raised + 1
      if type(result[2]) ~= "string" then
        bad = bad + 1
        print("bad " .. target.name .. describe_args(args) .. " -> a " .. type(result[2]) .. " error")
      end
    else
      for i = 2, result.n do
        local v = result[i]
        if type(v) == "userdata" and mg.is_tensor(v) then
          local ok, n = pcall(v.numel, v)
          if ok and n <= 4096 then
            if #recent < 16 then recent[#recent + 1] = v else recent[R(#recent)] = v end
          end
        end
      end
    end
  end
end

recent = nil
collectgarbage()
collectgarbage()
print(string.format("done functions=%d skipped=%d calls=%d raised=%d bad=%d", #targets, skipped, calls, raised, bad))
