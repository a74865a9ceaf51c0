-- Shared spec helpers: a seeded setup, assert_near for tensors (reports the
-- largest difference and where), and a finite-difference gradcheck.
local mg = require "moongrad"

local H = {}
H.mg = mg

-- A before_each body: seeds the RNG and turns grad mode back on.
-- Use as `before_each(H.reseed(7))`.
function H.reseed(seed)
  return function()
    mg.manual_seed(seed or 1234)
    mg.set_grad_enabled(true)
  end
end

local function flat(x)
  if mg.is_tensor(x) then return x:float():contiguous():view(-1):totable(), x:shape() end
  if type(x) == "number" then return { x }, {} end
  -- nested table
  local out, shape = {}, {}
  local probe = x
  while type(probe) == "table" do shape[#shape + 1] = #probe; probe = probe[1] end
  local function walk(t)
    if type(t) == "table" then for _, v in ipairs(t) do walk(v) end else out[#out + 1] = t end
  end
  walk(x)
  return out, shape
end

local function index_of(i, shape)
  local idx, rest = {}, i - 1
  for d = #shape, 1, -1 do
    idx[d] = rest % shape[d] + 1
    rest = rest // shape[d]
  end
  return "[" .. table.concat(idx, ", ") .. "]"
end

-- Asserts |actual - expected| <= atol + rtol * |expected| elementwise.
-- expected may be a Tensor, a nested table or a number.
function H.assert_near(actual, expected, atol, rtol, what)
  atol, rtol = atol or 1e-5, rtol or 1e-5
  local a, ashape = flat(actual)
  local e, eshape = flat(expected)
  if #a ~= #e then
    error(string.format("%sexpected %d values [%s], got %d [%s]", what and (what .. ": ") or "", #e,
      table.concat(eshape, ", "), #a, table.concat(ashape, ", ")), 2)
  end
  local worst, where = -1, nil
  for i = 1, #a do
    local d = math.abs(a[i] - e[i])
    local bad = d > atol + rtol * math.abs(e[i]) or (a[i] ~= a[i]) ~= (e[i] ~= e[i])
    if bad and (d > worst or d ~= d) then worst, where = d, i end
  end
  if where then
    error(string.format("%svalues differ: largest difference %.6g at %s (got %.8g, expected %.8g; atol %g, rtol %g)",
      what and (what .. ": ") or "", worst, index_of(where, ashape), a[where], e[where], atol, rtol), 2)
  end
  return true
end

-- Compares the analytic gradient of fn(inputs...) with central differences.
-- fn returns a Tensor; it is reduced to a scalar with fixed random weights.
-- opts: eps (1e-3), atol (1e-2), rtol (1e-2), wrt (indices of inputs to
-- check, default all float inputs that require grad).
function H.gradcheck(fn, inputs, opts)
  opts = opts or {}
  local eps, atol, rtol = opts.eps or 1e-3, opts.atol or 1e-2, opts.rtol or 1e-2
  local wrt = opts.wrt
  if not wrt then
    wrt = {}
    for i, x in ipairs(inputs) do
      if mg.is_tensor(x) and x.dtype == "float32" then wrt[#wrt + 1] = i end
    end
  end
  for _, i in ipairs(wrt) do inputs[i]:requires_grad_() end
  local out = fn(table.unpack(inputs))
  local weights = mg.randn(table.unpack(out:shape()))
  local function scalar(o) return (o * weights):sum() end
  local targets = {}
  for k, i in ipairs(wrt) do targets[k] = inputs[i] end
  local analytic = mg.grad(scalar(out), targets)
  for k, i in ipairs(wrt) do
    local x = inputs[i]
    local raw = x:detach() -- shares storage: perturb in place, no grad history
    local view = raw:view(-1)
    local numeric = {}
    mg.no_grad(function()
      for j = 1, view:numel() do
        local orig = view[j]:item()
        view[j] = orig + eps
        local up = scalar(fn(table.unpack(inputs))):item()
        view[j] = orig - eps
        local down = scalar(fn(table.unpack(inputs))):item()
        view[j] = orig
        numeric[j] = (up - down) / (2 * eps)
      end
    end)
    H.assert_near(analytic[k], numeric, atol, rtol, "gradient of input " .. i)
  end
  return true
end

-- Asserts that fn raises an error whose message contains all the given
-- plain-text fragments.
function H.assert_error(fn, ...)
  local ok, err = pcall(fn)
  if ok then error("expected an error, but the call succeeded", 2) end
  err = tostring(err)
  for _, frag in ipairs({ ... }) do
    if not err:find(frag, 1, true) then
      error(string.format("error message %q does not contain %q", err, frag), 2)
    end
  end
  return err
end

-- Path of the host program under test and a helper to run it. The path is
-- absolute, as specs run it from other folders too; plain `busted` runs
-- from the repository root, where `make` built bin/moongrad.
H.bin = os.getenv("MOONGRAD_BIN") or ((os.getenv("PWD") or ".") .. "/bin/moongrad")

function H.run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"__exit $?\"")
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("__exit (%d+)%s*$"))
  out = out:gsub("__exit %d+%s*$", "")
  return out, code
end

-- Single-quotes s for the shell.
function H.shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- Runs the host program with a shell-level argument string, standard input
-- stdin (optional) and a command prefix such as `env ...` (optional);
-- returns stdout, stderr and the exit status.
function H.run_host(args, stdin, prefix)
  local err = os.tmpname()
  local cmd = (prefix and prefix .. " " or "") .. H.bin .. " " .. args .. " 2>" .. err
  if stdin then cmd = "printf '%s' " .. H.shell_quote(stdin) .. " | " .. cmd end
  local p = io.popen(cmd .. "; echo \"__exit $?\"")
  local out = p:read("a")
  p:close()
  local f = io.open(err)
  local errtext = f:read("a")
  f:close()
  os.remove(err)
  local code = tonumber(out:match("__exit (%d+)%s*$"))
  return out:gsub("__exit %d+%s*$", ""), errtext, code
end

-- Runs examples/<name>.lua through the host program with the shell-level
-- argument string args (on the data folder the module uses); fails unless
-- it exits with 0 and its last line is JSON. Returns that JSON decoded and
-- the whole output.
function H.run_example(name, args)
  local out, code = H.run(string.format("MOONGRAD_DATA=%s %s examples/%s.lua %s", mg.data.data_dir(), H.bin, name,
    args))
  if code ~= 0 then error(string.format("examples/%s.lua exited with %s:\n%s", name, tostring(code), out), 2) end
  local last = out:match("([^\n]+)\n*$")
  local ok, result = pcall(mg.json.decode, last or "")
  if not ok then error("last line is not JSON: " .. tostring(last), 2) end
  return result, out
end

-- A fresh empty folder under the system's temporary folder.
function H.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  mg.mkdir(d)
  return d
end

-- True when the file at path starts with the PNG signature.
function H.is_png(path)
  local f = io.open(path, "rb")
  if not f then return false end
  local head = f:read(8)
  f:close()
  return head == "\137PNG\r\n\26\n"
end

return H
