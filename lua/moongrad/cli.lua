--- Command-line options for experiment scripts. Options are written
-- `--name value` or `--name=value` (dashes or underscores); booleans are
-- `--name` / `--no-name`. The shared options of every example (data,
-- epochs, limit, batch-size, seed, threads, out, dist) come from `common`;
-- `--help` prints the options and exits.
-- @module moongrad.cli
-- @alias M
-- @usage local opts = mg.cli.parse(arg, {
--   description = "Rotation prediction as a pretext task",
--   { "epochs", 10, "pretext epochs" },          -- name, default, help
--   { "data", "mnist", "mnist or fashion", choices = { "mnist", "fashion" } },
-- })
local M = {}

local function key_of(name) return (name:gsub("-", "_")) end
local function flag_of(name) return (name:gsub("_", "-")) end

local function usage(spec, script)
  local lines = { "usage: moongrad " .. (script or "script.lua") .. " [options]" }
  if spec.description then lines[#lines + 1] = spec.description end
  lines[#lines + 1] = ""
  for _, o in ipairs(spec) do
    local name, default, help = o[1], o[2], o[3] or ""
    local shown = type(default) == "boolean" and ("--" .. flag_of(name) .. " / --no-" .. flag_of(name))
      or ("--" .. flag_of(name) .. " " .. (o.choices and table.concat(o.choices, "|") or "VALUE"))
    local def = default == nil and "" or ("  (default " .. tostring(default) .. ")")
    lines[#lines + 1] = string.format("  %-28s %s%s", shown, help, def)
  end
  return table.concat(lines, "\n")
end

local function convert(o, text)
  local name, default = o[1], o[2]
  local kind = o.type or type(default)
  if kind == "number" or kind == "integer" then
    local v = tonumber(text)
    if not v then error(string.format("--%s: expected a number, got '%s'", flag_of(name), text), 0) end
    if (kind == "integer" or math.type(default) == "integer") and math.type(v) ~= "integer" then
      local i = math.tointeger(v)
      if not i then error(string.format("--%s: expected an integer, got '%s'", flag_of(name), text), 0) end
      v = i
    end
    return v
  end
  if o.choices then
    for _, c in ipairs(o.choices) do if c == text then return text end end
    error(string.format("--%s: expected one of %s, got '%s'", flag_of(name), table.concat(o.choices, ", "), text), 0)
  end
  return text
end

--- Parses command-line arguments. Unknown options and bad values raise
-- errors naming the option; --help prints the usage and exits.
-- @tparam {string,...} args the script's `arg`
-- @tparam table spec `{description = ..., {name, default, help [, choices = {...}, type = "integer"]}, ...}`;
--   the default's type gives the option's type
-- @treturn table the options, keys with underscores (`batch_size`)
function M.parse(args, spec)
  args = args or {}
  local by_key, out = {}, {}
  for _, o in ipairs(spec) do
    by_key[key_of(o[1])] = o
    out[key_of(o[1])] = o[2]
  end
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "-h" or a == "--help" then
      print(usage(spec, args[0]))
      os.exit(0)
    end
    local name, value = a:match("^%-%-([%w%-_]+)=(.*)$")
    if not name then name = a:match("^%-%-([%w%-_]+)$") end
    if not name then error("unexpected argument '" .. a .. "' (options start with --; see --help)", 0) end
    local key = key_of(name)
    local o = by_key[key]
    if not o and key:sub(1, 3) == "no_" and by_key[key:sub(4)] and type(by_key[key:sub(4)][2]) == "boolean" then
      out[key:sub(4)] = false
    elseif not o then
      error("unknown option --" .. name .. " (see --help)", 0)
    elseif type(o[2]) == "boolean" then
      if value then error("--" .. name .. " takes no value", 0) end
      out[key] = true
    else
      if not value then
        i = i + 1
        value = args[i]
        if value == nil then error("--" .. name .. " needs a value", 0) end
      end
      out[key] = convert(o, value)
    end
    i = i + 1
  end
  return out
end

--- The option spec every example shares (data, epochs, limit, batch-size,
-- seed, threads, out), followed by its own.
-- @string name the example's name (the default out folder is out/name)
-- @string description shown by --help
-- @tparam[opt] table defaults overrides of the shared defaults (`{epochs = 10, batch_size = 128}`)
-- @tparam[opt] table extra the example's own option entries
-- @treturn table a spec for `parse`
-- @usage local opts = mg.cli.parse(arg, mg.cli.common("rotnet", "Rotation prediction", {epochs = 5}))
function M.common(name, description, defaults, extra)
  defaults = defaults or {}
  local function d(k, v) if defaults[k] ~= nil then return defaults[k] end return v end
  local spec = {
    description = description,
    { "data", d("data", "mnist"), "dataset", choices = { "mnist", "fashion" } },
    { "epochs", d("epochs", 1), "training epochs" },
    { "limit", d("limit", 0), "use only the first N training images (0: all)" },
    { "batch-size", d("batch_size", 64), "batch size" },
    { "seed", d("seed", 1), "random seed" },
    { "threads", d("threads", 0), "threads (0: all cores)" },
    { "out", d("out", "out/" .. name), "folder for pictures, metrics and checkpoints" },
    { "dist", false, "data parallel over MPI: one rank per process, started by mpirun -np N" },
  }
  for _, o in ipairs(extra or {}) do spec[#spec + 1] = o end
  return spec
end

local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- --dist: joins the MPI job (mg.dist.init(); every Trainer is then data
-- parallel) and sets opts.rank and opts.world_size. Without --threads the
-- cores this rank may use are shared among the ranks on its machine.
-- Ranks other than 1 stay quiet, so that pictures, logs and the result
-- line come from rank 1 alone: their print, io.write, io.stdout and
-- io.stderr go nowhere (errors still reach the terminal), and opts.out
-- becomes a scratch folder removed when the script ends.
local function join(opts)
  local mg = require "moongrad"
  local rank, world = mg.dist.init()
  opts.rank, opts.world_size = rank, world
  if opts.threads == 0 then mg.set_num_threads(math.max(1, mg.get_num_threads() // mg.dist.local_size())) end
  if rank == 1 then
    if mg.dist.backend() == "none" then
      io.stderr:write("--dist: no MPI launcher: running alone as rank 1 of 1 (start the job with mpirun -np N ...)\n")
    else
      io.stderr:write(string.format("--dist: rank 1 of %d, %d thread%s per rank\n", world, mg.get_num_threads(),
        mg.get_num_threads() == 1 and "" or "s"))
    end
    return
  end
  local null = assert(io.open("/dev/null", "w"))
  _G.print = function() end
  io.output(null)
  rawset(io, "stdout", null) -- io's own handles: the process's descriptors stay open
  rawset(io, "stderr", null)
  local scratch = os.tmpname()
  os.remove(scratch)
  opts.out = scratch
  -- removed when the Lua state closes (the end of the script)
  M._scratch = setmetatable({}, { __gc = function() os.execute("rm -rf " .. shell_quote(scratch)) end })
end

--- What every example does first with the common options: joins the MPI
-- job (--dist), seeds the RNG, sets the thread count (0 leaves the
-- default) and makes the output folder.
-- @tparam table opts parsed options with seed, threads, out and dist
-- @treturn number the clock at the start (mg.clock)
function M.start(opts)
  local mg = require "moongrad"
  if opts.dist then join(opts) end
  M.out = opts.out -- where result() writes result.json
  mg.manual_seed(opts.seed)
  if opts.threads > 0 then mg.set_num_threads(opts.threads) end
  mg.mkdir(opts.out)
  return mg.clock()
end

--- The training and test sets of opts.data ("mnist" or "fashion"), keeping
-- the first opts.limit training and opts.test_limit test images when
-- those are > 0.
-- @tparam table opts parsed options
-- @tparam[opt] table extra passed to both loaders (`{source = "sample"}`)
-- @return the training set
-- @return the test set
function M.datasets(opts, extra)
  local mg = require "moongrad"
  local load = opts.data == "fashion" and mg.data.fashion_mnist or mg.data.mnist
  local function args(split, limit)
    local a = { split = split, limit = (limit or 0) > 0 and limit or nil }
    for k, v in pairs(extra or {}) do a[k] = v end
    return a
  end
  return load(args("train", opts.limit)), load(args("test", opts.test_limit))
end

--- Prints an example's result as its last line: one line of JSON whose
-- numbers are rounded to what they mean (4 significant digits; integers
-- and the learning rate exact), as the metrics logs write them; the same
-- line goes to result.json in the output folder of `start` (for
-- `moongrad report`).
-- @tparam table result
-- @treturn table result
-- @usage mg.cli.result{example = "rotnet", test_acc = acc, seconds = mg.clock() - started}
function M.result(result)
  local line = require("moongrad.json").encode(result, { digits = 4, exact = { "lr" } })
  print(line)
  if M.out then
    local f = io.open(M.out .. "/result.json", "w")
    if f then
      f:write(line, "\n")
      f:close()
    end
  end
  return result
end

return M
