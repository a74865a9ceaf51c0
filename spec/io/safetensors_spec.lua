-- mg.save / mg.load (safetensors): bit-exact round trips, the file layout,
-- a file written without moongrad (spec/fixtures/torch_written.safetensors),
-- hostile and truncated files (errors naming the file and the problem),
-- and atomic writes (a failed or killed save leaves the old file).
local H = require "helpers"
local mg = H.mg

local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read_file(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
end

-- Loads bytes from a fresh file (rewriting one file in place is slow on
-- ext4, which flushes a truncated file on close); returns pcall's results.
local function try_load(dir, k, bytes)
  local p = dir .. "/try" .. k .. ".safetensors"
  write_file(p, bytes)
  local ok, err = pcall(mg.load, p)
  os.remove(p)
  return ok, err, p
end

-- A safetensors file from a header text and data bytes; hlen overrides the
-- length field.
local function st_bytes(header, data, hlen)
  return string.pack("<I8", hlen or #header) .. header .. (data or "")
end

local function listdir(dir)
  local names = {}
  for name in io.popen("ls -A " .. q(dir)):lines() do names[#names + 1] = name end
  table.sort(names)
  return names
end

local function same_tensor(a, b, what)
  assert.are.equal(b.dtype, a.dtype, what)
  assert.are.same(b:shape(), a:shape(), what)
  if a:numel() > 0 then H.assert_near(a, b, 0, 0, what) end
end

describe("safetensors", function()
  local dir, path
  before_each(function()
    mg.manual_seed(5)
    dir = io.popen("mktemp -d"):read("l")
    path = dir .. "/m.safetensors"
  end)
  after_each(function()
    os.execute("rm -rf " .. q(dir))
  end)

  it("round-trips float32, int64 and uint8 bit for bit", function()
    local f = mg.randn(3, 5)
    local special = mg.tensor{0 / 0, 1 / 0, -1 / 0, -0.0, 1e-40, 3.4e38, -1.5}
    local i = mg.tensor({math.maxinteger, math.mininteger, 0, -1, 12345678901234}, {dtype = "int64"})
    local u = mg.arange(256):to("uint8"):view(16, 16)
    mg.save(path, {f = f, special = special, i = i, u = u})
    local t = mg.load(path)
    same_tensor(t.f, f, "f")
    same_tensor(t.special, special, "special")
    assert.are.equal(-math.huge, (1 / t.special[4]):item()) -- -0.0 kept its sign
    assert.are.same(i:totable(), t.i:totable())
    same_tensor(t.u, u, "u")
    local n = 0
    for _ in pairs(t) do n = n + 1 end
    assert.are.equal(4, n)
    assert.is_false(t.f.requires_grad)
  end)

  it("round-trips 0-dim, empty and non-contiguous tensors", function()
    local base = mg.randn(4, 6)
    local tensors = {
      scalar = mg.tensor(2.5),
      iscalar = mg.tensor(7, {dtype = "int64"}),
      empty = mg.zeros(0, 4),
      empty2 = mg.zeros({3, 0}, {dtype = "uint8"}),
      transposed = base:transpose(1, 2),
      narrowed = base:narrow(2, 2, 3),
      expanded = mg.tensor{{1}, {2}}:expand(2, 3),
      grad = mg.randn(3):requires_grad_(),
    }
    mg.save(path, tensors)
    local t = mg.load(path)
    for name, want in pairs(tensors) do
      same_tensor(t[name], want:detach():contiguous(), name)
    end
    assert.are.equal(2.5, t.scalar:item())
  end)

  it("round-trips metadata and an empty table of tensors", function()
    local md = {epoch = "12", ["naïve key"] = "tab\there \"quoted\" \\ \n end", empty = "", ctl = "\1\31"}
    mg.save(path, {}, md)
    local t, back = mg.load(path)
    assert.are.same({}, t)
    assert.are.same(md, back)
    mg.save(path, {x = mg.zeros(1)})
    local _, none = mg.load(path)
    assert.are.same({}, none)
  end)

  it("lays the file out as the reference writer does", function()
    mg.save(path, {b = mg.zeros(3), a = mg.zeros(1), idx = mg.zeros({2}, {dtype = "int64"}),
      raw = mg.zeros({5}, {dtype = "uint8"})}, {k = "v"})
    local bytes = read_file(path)
    local hlen = string.unpack("<I8", bytes)
    assert.are.equal(0, hlen % 8)
    local header = bytes:sub(9, 8 + hlen)
    assert.are.equal('{"__metadata__":{"k":"v"},"idx":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},'
      .. '"a":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},'
      .. '"b":{"dtype":"F32","shape":[3],"data_offsets":[20,32]},'
      .. '"raw":{"dtype":"U8","shape":[5],"data_offsets":[32,37]}}', (header:gsub(" +$", "")))
    assert.are.equal(8 + hlen + 37, #bytes)
  end)

  it("reads a file written without moongrad", function()
    local t, md = mg.load("spec/fixtures/torch_written.safetensors")
    assert.are.same({format = "pt", written_by = "make_safetensors_fixture.py"}, md)
    same_tensor(t.weight, mg.tensor{{1.5, -2.25, 0}, {3e-8, 1e30, -7}}, "weight")
    assert.are.same({0, -1, 1 << 40, -(1 << 62)}, t.ids:totable())
    assert.are.equal("int64", t.ids.dtype)
    same_tensor(t.pixels, mg.tensor({{{0, 32}, {64, 96}}, {{128, 160}, {192, 224}}}, {dtype = "uint8"}), "pixels")
    same_tensor(t.scalar, mg.tensor(0.1), "scalar")
    same_tensor(t.empty, mg.zeros(0, 3), "empty")
    same_tensor(t["layer.0/\u{3c9}\"q"], mg.tensor{-0.5}, "escaped name")
  end)

  it("refuses bad arguments to save", function()
    H.assert_error(function() mg.save(path, {mg.zeros(1)}) end, "save: tensor names must be strings, got a number key")
    H.assert_error(function() mg.save(path, {a = 1}) end, "save: value of 'a' must be a Tensor, got number")
    H.assert_error(function() mg.save(path, mg.zeros(1)) end, "save: expected a table of named tensors")
    H.assert_error(function() mg.save(path, {__metadata__ = mg.zeros(1)}) end, "save: \"__metadata__\" is reserved")
    H.assert_error(function() mg.save(path, {}, {epoch = 3}) end,
      "save: metadata value of 'epoch' must be a string, got number")
    H.assert_error(function() mg.save(path, {["bad\255"] = mg.zeros(1)}) end, "is not valid UTF-8")
    H.assert_error(function() mg.save(dir .. "/no/such/dir/m.safetensors", {a = mg.zeros(1)}) end,
      "save: cannot write '" .. dir .. "/no/such/dir/m.safetensors'", "No such file or directory")
    H.assert_error(function() mg.save(dir, {a = mg.zeros(1)}) end, "is a directory")
    assert.are.same({}, listdir(dir))
  end)

  describe("refuses malformed files with an error naming the problem", function()
    local f32x2 = '"dtype":"F32","shape":[2]'
    local cases = {
      {"a short file", "\1\2\3", "fewer than the 8 of the header length"},
      {"a huge header length", string.pack("<I8", 0x7fffffffffffffff) .. "{}",
        "header length 9223372036854775807 exceeds the file size"},
      {"the largest header length", string.pack("<i8", -1) .. "{}", "header length 18446744073709551615 exceeds"},
      {"a header that is not JSON", st_bytes("[garbage"), "does not start with '{'"},
      {"truncated JSON", st_bytes('{"a":{' .. f32x2),
        "header: invalid JSON at byte 31: expected ',' or '}', got the end of the text"},
      {"a JSON array header", st_bytes('{"a":[1]}'), "header entry \"a\" must be an object, got an array"},
      {"a dtype of the wrong type", st_bytes('{"a":{"dtype":5,"shape":[],"data_offsets":[0,4]}}', "\0\0\0\0"),
        "dtype of tensor \"a\" must be a string, got a number"},
      {"a missing field", st_bytes('{"a":{"dtype":"F32","shape":[]}}'), "tensor \"a\" lacks \"data_offsets\""},
      {"a shape of the wrong type", st_bytes('{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', ("\0"):rep(8)),
        "shape of tensor \"a\" must be an array, got a string"},
      {"a negative size", st_bytes('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', ("\0"):rep(8)),
        "must hold integers >= 0, got a negative number at position 1"},
      {"a fractional size", st_bytes('{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}', ("\0"):rep(8)),
        "must hold integers >= 0"},
      {"too many dims", st_bytes('{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}', "\0"),
        "has 9 dims, more than the 8 supported"},
      {"an unknown dtype", st_bytes('{"a":{"dtype":"F33",' .. '"shape":[2],"data_offsets":[0,8]}}', ("\0"):rep(8)),
        "unknown dtype \"F33\""},
      {"an unsupported dtype", st_bytes('{"a":{"dtype":"F16",' .. '"shape":[2],"data_offsets":[0,4]}}', ("\0"):rep(4)),
        "has dtype F16, which moongrad does not read"},
      {"negative offsets", st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[-8,0]}}', ("\0"):rep(8)),
        "data_offsets of tensor \"a\" must be >= 0, got -8"},
      {"overflowing offsets", st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,99999999999999999999]}}',
        ("\0"):rep(8)), "must be integers, got a non-integer or too large number"},
      {"three offsets", st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,8,16]}}', ("\0"):rep(8)),
        "must be an array of two integers"},
      {"offsets ending before they begin", st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[8,0]}}', ("\0"):rep(8)),
        "end before they begin"},
      {"offsets past the end", st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,8]}}', ("\0"):rep(7)),
        "go past the end of the data (7 bytes; is the file truncated?)"},
      {"offsets far past the end",
        st_bytes('{"a":{"dtype":"U8","shape":[9223372036854775807],"data_offsets":[0,9223372036854775807]}}', "\0"),
        "go past the end of the data"},
      {"a shape/size mismatch", st_bytes('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', ("\0"):rep(8)),
        "tensor \"a\" (F32 [3]) needs 12 bytes but its data_offsets [0, 8] hold 8"},
      {"an overflowing shape", st_bytes('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}',
        ("\0"):rep(8)), "needs too many bytes"},
      {"overlapping ranges",
        st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,8]},"b":{' .. f32x2 .. ',"data_offsets":[4,12]}}',
        ("\0"):rep(12)), "the data of tensors \"a\" and \"b\" overlap ([0, 8] and [4, 12])"},
      {"a gap between ranges",
        st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,8]},"b":{' .. f32x2 .. ',"data_offsets":[12,20]}}',
        ("\0"):rep(20)), "data bytes [8, 12) belong to no tensor"},
      {"bytes after the last tensor", st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,8]}}', ("\0"):rep(9)),
        "1 bytes after the last tensor's data belong to no tensor"},
      {"duplicate keys",
        st_bytes('{"a":{' .. f32x2 .. ',"data_offsets":[0,8]},"a":{' .. f32x2 .. ',"data_offsets":[8,16]}}',
        ("\0"):rep(16)), "duplicate key \"a\""},
      {"a NUL in a name", st_bytes('{"a\\u0000b":{' .. f32x2 .. ',"data_offsets":[0,8]}}', ("\0"):rep(8)),
        "a tensor name contains a NUL character"},
      {"invalid UTF-8 in a name", st_bytes('{"a\255":{' .. f32x2 .. ',"data_offsets":[0,8]}}', ("\0"):rep(8)),
        "invalid UTF-8 in a string"},
      {"metadata that is not strings", st_bytes('{"__metadata__":{"epoch":3}}'),
        "metadata value of \"epoch\" must be a string, got a number"},
      {"metadata that is not an object", st_bytes('{"__metadata__":"x"}'),
        "\"__metadata__\" must be an object of strings"},
      {"deep nesting", st_bytes('{"a":' .. ("["):rep(100) .. ("]"):rep(100) .. "}"), "nesting deeper than 64 levels"},
      {"text after the header object", st_bytes('{} {}'), "unexpected '{' after the value"},
    }
    for _, case in ipairs(cases) do
      it(case[1], function()
        write_file(path, case[2])
        H.assert_error(function() mg.load(path) end, "load: '" .. path .. "'", case[3])
      end)
    end

    it("a missing file and a directory", function()
      H.assert_error(function() mg.load(dir .. "/none.safetensors") end,
        "load: cannot open '" .. dir .. "/none.safetensors'", "No such file")
      H.assert_error(function() mg.load(dir) end, "load: '" .. dir .. "' is not a regular file")
    end)
  end)

  it("survives random bytes and random headers", function()
    math.randomseed(42)
    local pieces = {'{', '}', '[', ']', '"a"', '"dtype"', '"F32"', '"U8"', '"shape"', '"data_offsets"', ':', ',',
      '0', '4', '-1', '1e400', '18446744073709551616', '"__metadata__"', '"\\u', 'null', 'true', ' '}
    for trial = 1, 200 do
      local bytes
      if trial % 3 == 0 then
        local n = math.random(0, 40)
        local b = {}
        for k = 1, n do b[k] = string.char(math.random(0, 255)) end
        bytes = table.concat(b)
      else
        local h = {"{"}
        for _ = 1, math.random(1, 30) do h[#h + 1] = pieces[math.random(#pieces)] end
        local header = table.concat(h)
        local data = ("\7"):rep(math.random(0, 16))
        local hlen = trial % 5 == 0 and math.random(0, 2 ^ 31) or #header
        bytes = st_bytes(header, data, hlen)
      end
      local ok, err, p = try_load(dir, trial, bytes)
      if not ok then assert.truthy(tostring(err):find("load: ", 1, true) and tostring(err):find(p, 1, true), err) end
    end
  end)

  it("refuses every truncation of a valid file", function()
    mg.save(path, {w = mg.randn(2, 3), i = mg.tensor({1, 2}, {dtype = "int64"}), b = mg.zeros({3}, {dtype = "uint8"})},
      {note = "x"})
    local bytes = read_file(path)
    for n = 0, #bytes - 1 do
      local ok, err, p = try_load(dir, n, bytes:sub(1, n))
      assert.is_false(ok, "a file cut to " .. n .. " bytes loaded")
      assert.truthy(tostring(err):find("load: '" .. p .. "'", 1, true), err)
    end
    local ok, t = try_load(dir, "whole", bytes)
    assert.is_true(ok)
    assert.are.equal(3, #t.w:totable()[1])
  end)

  describe("atomic writes", function()
    it("leave the old file and no temporary file when a write fails midway", function()
      mg.save(path, {w = mg.full({4}, 1)})
      local script = dir .. "/big.lua"
      write_file(script, 'local mg = require "moongrad"\n'
        .. 'local ok, err = pcall(mg.save, arg[1], {w = mg.zeros(1000000)})\n'
        .. 'print(ok, err)\n')
      -- files may not grow past 64 KiB: the write fails with EFBIG part way
      local out = H.run("sh -c " .. q("trap '' XFSZ; ulimit -f 64; exec " .. q(H.bin) .. " " .. q(script) .. " "
        .. q(path)))
      assert.truthy(out:find("false\tsave: cannot write '" .. path .. "': File too large", 1, true), out)
      assert.are.same({1, 1, 1, 1}, mg.load(path).w:totable())
      assert.are.same({"big.lua", "m.safetensors"}, listdir(dir))
    end)

    it("leave a loadable file when the saving process is killed", function()
      local script = dir .. "/loop.lua"
      write_file(script, 'local mg = require "moongrad"\n'
        .. 'local a, b = mg.full({1000000}, 1), mg.full({1000000}, 2)\n'
        .. 'mg.save(arg[1], {w = a}); print("ready"); io.stdout:flush()\n'
        .. 'for i = 1, 100000 do mg.save(arg[1], {w = (i % 2 == 0) and a or b}) end\n')
      local cmd = q(H.bin) .. " " .. q(script) .. " " .. q(path) .. " & pid=$!; "
        .. "i=0; while [ ! -s " .. q(path) .. " ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done; "
        .. "sleep 0.3; kill -9 $pid; wait $pid"
      local out, code = H.run("sh -c " .. q(cmd))
      assert.are.equal(137, code, out) -- killed while saving, not finished
      local w = mg.load(path).w
      local lo, hi = w:min():item(), w:max():item()
      assert.are.equal(lo, hi) -- one whole save, not a mix
      assert.truthy(lo == 1 or lo == 2)
    end)
  end)
end)
