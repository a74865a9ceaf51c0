-- IDX files: reading every type, plain and gzip, writing uint8, and clear
-- errors (naming the file and the problem) for damaged files.
local H = require "helpers"
local mg = H.mg

-- A fresh temp directory per run; files are named inside it.
local dir = os.tmpname()
os.remove(dir)
os.execute("mkdir -p '" .. dir .. "'")
local function path(name) return dir .. "/" .. name end

local function write_bytes(name, bytes)
  local f = assert(io.open(path(name), "wb"))
  f:write(bytes)
  f:close()
  return path(name)
end

local function read_bytes(p)
  local f = assert(io.open(p, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- IDX header: 00 00 code ndim, then big-endian dims.
local function header(code, dims)
  local parts = { string.char(0, 0, code, #dims) }
  for _, d in ipairs(dims) do parts[#parts + 1] = string.pack(">I4", d) end
  return table.concat(parts)
end

-- CRC-32 (the gzip checksum), bit by bit: inputs here are tiny.
local function crc32(s)
  local crc = 0xFFFFFFFF
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do
      if crc & 1 == 1 then crc = (crc >> 1) ~ 0xEDB88320 else crc = crc >> 1 end
    end
  end
  return crc ~ 0xFFFFFFFF
end

-- One gzip member holding `s` in a stored (uncompressed) deflate block, so
-- a spec can put any bytes at all inside a valid gzip stream.
local function gzip_stored(s)
  assert(#s < 65536)
  return string.char(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255)
    .. string.char(1) .. string.pack("<I2I2", #s, (~#s) & 0xFFFF) .. s
    .. string.pack("<I4I4", crc32(s), #s)
end

describe("mg.read_idx / mg.write_idx", function()
  teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

  local function sample_u8()
    return mg.tensor({ { { 0, 1, 2 }, { 127, 128, 255 } }, { { 9, 8, 7 }, { 6, 5, 4 } } }, { dtype = "uint8" })
  end

  it("round-trips a uint8 tensor through plain and gzip files", function()
    local t = sample_u8()
    for _, name in ipairs({ "a.idx", "a.idx.gz" }) do
      mg.write_idx(path(name), t)
      local back = mg.read_idx(path(name))
      assert.equal("uint8", back.dtype)
      assert.same({ 2, 2, 3 }, back:shape())
      assert.same(t:totable(), back:totable())
    end
    -- the gzip flag follows the name unless given
    assert.equal("\31\139", read_bytes(path("a.idx.gz")):sub(1, 2))
    assert.equal(header(8, { 2, 2, 3 }), read_bytes(path("a.idx")):sub(1, 16))
    mg.write_idx(path("b.idx"), t, { gzip = true })
    assert.equal("\31\139", read_bytes(path("b.idx")):sub(1, 2))
    assert.same(t:totable(), mg.read_idx(path("b.idx")):totable())
    mg.write_idx(path("c.idx"), t, { gzip = false })
    assert.equal(16 + 12, #read_bytes(path("c.idx")))
  end)

  it("writes a non-contiguous tensor in logical order, and 1-D labels", function()
    local t = mg.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, { dtype = "uint8" }):transpose(1, 2)
    mg.write_idx(path("t.idx"), t)
    assert.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, mg.read_idx(path("t.idx")):totable())
    local labels = mg.tensor({ 3, 1, 4, 1, 5 }, { dtype = "uint8" })
    mg.write_idx(path("l.idx.gz"), labels)
    assert.same({ 3, 1, 4, 1, 5 }, mg.read_idx(path("l.idx.gz")):totable())
  end)

  it("reads each IDX type code into the right dtype (big-endian)", function()
    local p = write_bytes("sb.idx", header(0x09, { 3 }) .. string.pack(">i1i1i1", -128, -1, 127))
    local t = mg.read_idx(p)
    assert.equal("int64", t.dtype)
    assert.same({ -128, -1, 127 }, t:totable())
    p = write_bytes("sh.idx", header(0x0B, { 2, 2 }) .. string.pack(">i2i2i2i2", -32768, -2, 258, 32767))
    t = mg.read_idx(p)
    assert.equal("int64", t.dtype)
    assert.same({ { -32768, -2 }, { 258, 32767 } }, t:totable())
    p = write_bytes("in.idx", header(0x0C, { 3 }) .. string.pack(">i4i4i4", -2147483648, 16909060, 7))
    assert.same({ -2147483648, 16909060, 7 }, mg.read_idx(p):totable())
    p = write_bytes("fl.idx", header(0x0D, { 3 }) .. string.pack(">fff", 1.5, -0.25, 3e10))
    t = mg.read_idx(p)
    assert.equal("float32", t.dtype)
    H.assert_near(t, { 1.5, -0.25, 3e10 }, 0, 1e-7)
    p = write_bytes("db.idx", header(0x0E, { 1, 2 }) .. string.pack(">dd", 0.1, -1e-3))
    t = mg.read_idx(p)
    assert.equal("float32", t.dtype)
    H.assert_near(t, { { 0.1, -1e-3 } }, 0, 1e-6)
  end)

  it("reads gzip by content, including several concatenated members", function()
    local body = header(0x08, { 2, 2 }) .. string.char(10, 20, 30, 40)
    local p = write_bytes("one.idx", gzip_stored(body))
    assert.same({ { 10, 20 }, { 30, 40 } }, mg.read_idx(p):totable())
    p = write_bytes("two.gz", gzip_stored(body:sub(1, 9)) .. gzip_stored(body:sub(10)))
    assert.same({ { 10, 20 }, { 30, 40 } }, mg.read_idx(p):totable())
    p = write_bytes("sh.gz", gzip_stored(header(0x0B, { 2 }) .. string.pack(">i2i2", -5, 300)))
    assert.same({ -5, 300 }, mg.read_idx(p):totable())
  end)

  it("scales to float32 while reading with {scale = s}", function()
    local t = mg.tensor({ 0, 51, 255 }, { dtype = "uint8" })
    for _, name in ipairs({ "s.idx", "s.idx.gz" }) do
      mg.write_idx(path(name), t)
      local f = mg.read_idx(path(name), { scale = 1 / 255 })
      assert.equal("float32", f.dtype)
      H.assert_near(f, { 0, 0.2, 1 }, 1e-7)
    end
    local p = write_bytes("si.idx", header(0x0C, { 2 }) .. string.pack(">i4i4", -4, 8))
    H.assert_near(mg.read_idx(p, { scale = 0.5 }), { -2, 4 }, 0)
    H.assert_error(function() mg.read_idx(p, { scale = "x" }) end, "read_idx", "scale")
  end)

  it("handles empty tensors (a zero dim)", function()
    local p = write_bytes("e.idx", header(0x08, { 0, 28 }))
    local t = mg.read_idx(p)
    assert.same({ 0, 28 }, t:shape())
  end)

  describe("errors name the file and the problem", function()
    local function fails(p, ...) return H.assert_error(function() mg.read_idx(p) end, "read_idx", p, ...) end

    it("missing file, directory", function()
      fails(path("nope.idx"), "No such file")
      fails(dir, "not a regular file")
    end)

    it("bad magic, type code, number of dims", function()
      fails(write_bytes("m1.idx", string.char(1, 0, 8, 1) .. string.pack(">I4", 1) .. "x"), "bad magic 01 00 08 01")
      fails(write_bytes("m2.idx", "P5\n28 28\n255\n" .. string.rep("\0", 20)), "bad magic")
      fails(write_bytes("tc.idx", header(0x0A, { 1 }) .. "x"), "unknown type code 0x0a")
      fails(write_bytes("tc2.idx", header(0x07, { 1 }) .. "x"), "unknown type code 0x07")
      fails(write_bytes("d0.idx", string.char(0, 0, 8, 0) .. "x"), "bad number of dims 0 (expected 1..8)")
      fails(write_bytes("d9.idx", string.char(0, 0, 8, 9) .. string.rep("\0\0\0\1", 9) .. "x"), "bad number of dims 9")
    end)

    it("truncated header or data, trailing data (plain)", function()
      fails(write_bytes("h0.idx", ""), "truncated header")
      fails(write_bytes("h1.idx", string.char(0, 0, 8)), "truncated header")
      fails(write_bytes("h2.idx", string.char(0, 0, 8, 3) .. string.pack(">I4I4", 2, 2)), "truncated header", "3 dims")
      fails(write_bytes("td.idx", header(0x08, { 2, 3 }) .. "abcde"), "truncated data", "[2, 3]", "needs 6 data bytes",
        "holds 5")
      fails(write_bytes("ti.idx", header(0x0C, { 2 }) .. "1234567"), "truncated data", "needs 8")
      fails(write_bytes("tr.idx", header(0x08, { 2, 3 }) .. "abcdefg"), "trailing data", "6 data bytes")
    end)

    it("sizes far beyond the file are refused before allocating", function()
      fails(write_bytes("big.idx", header(0x08, { 4294967295, 4294967295, 4294967295 }) .. "x"), "truncated data")
      fails(write_bytes("big2.idx", header(0x0E, { 60000, 28, 28 }) .. "x"), "truncated data", "needs 376320000")
      local gz = gzip_stored(header(0x08, { 4294967295, 4294967295 }) .. "abc")
      fails(write_bytes("big.gz", gz), "more than a gzip file of " .. #gz .. " bytes can hold")
      -- plausible-looking claims that the stream does not back up (the
      -- second one is read into a buffer that grows as the stream inflates)
      fails(write_bytes("big2.gz", gzip_stored(header(0x08, { 50, 28, 28 }) .. "abc")), "truncated data", "holds 3")
      fails(write_bytes("big3.gz", gzip_stored(header(0x08, { 1100000 }) .. string.rep("x", 1000))),
        "truncated data", "needs 1100000", "holds 1000")
    end)

    it("reads a highly compressed file through the growing buffer", function()
      local z = mg.zeros(2000, 28, 28):byte()
      z[7] = 3
      mg.write_idx(path("zeros.gz"), z)
      assert.is_true(#read_bytes(path("zeros.gz")) < 4000)
      local back = mg.read_idx(path("zeros.gz"))
      assert.same({ 2000, 28, 28 }, back:shape())
      assert.equal(3 * 784, back:float():sum():item())
      assert.equal(3 * 784, back[7]:float():sum():item())
      H.assert_near(mg.read_idx(path("zeros.gz"), { scale = 0.5 })[7], mg.full({ 28, 28 }, 1.5), 0)
    end)

    it("a .gz name without gzip content", function()
      fails(write_bytes("plain.idx.gz", header(0x08, { 1 }) .. "x"), "not a gzip file")
      fails(write_bytes("empty.gz", ""), "not a gzip file")
    end)

    it("truncated or corrupt gzip streams", function()
      local t = mg.arange(0, 200, { dtype = "int64" }):reshape(10, 20):byte()
      mg.write_idx(path("ok.gz"), t)
      local good = read_bytes(path("ok.gz"))
      assert.same(t:totable(), mg.read_idx(path("ok.gz")):totable())
      fails(write_bytes("cut.gz", good:sub(1, #good - 12)), "truncated gzip stream")
      fails(write_bytes("cut2.gz", good:sub(1, 12)), "truncated gzip stream")
      fails(write_bytes("cut3.gz", good:sub(1, #good - 1)), "truncated gzip stream")
      -- a flipped bit in the compressed data, then in the stored checksum
      local i = 120
      local bad = good:sub(1, i - 1) .. string.char(good:byte(i) ~ 0xFF) .. good:sub(i + 1)
      fails(write_bytes("flip.gz", bad), "corrupt gzip data")
      local j = #good - 6
      local badcrc = good:sub(1, j - 1) .. string.char(good:byte(j) ~ 1) .. good:sub(j + 1)
      fails(write_bytes("crc.gz", badcrc), "corrupt gzip data", "incorrect data check")
      fails(write_bytes("junk.gz", good .. "junk"), "trailing bytes after the end of the gzip stream")
    end)

    it("truncated or trailing data inside a valid gzip stream", function()
      fails(write_bytes("gs.gz", gzip_stored(header(0x08, { 2, 3 }) .. "abcde")), "truncated data", "needs 6",
        "holds 5")
      fails(write_bytes("gl.gz", gzip_stored(header(0x08, { 2, 3 }) .. "abcdefg")), "trailing data")
      fails(write_bytes("gm.gz", gzip_stored(header(0x08, { 2 }) .. "ab") .. gzip_stored("c")), "trailing data")
      fails(write_bytes("gh.gz", gzip_stored(string.char(0, 0, 8))), "truncated header")
      fails(write_bytes("gb.gz", gzip_stored(string.char(0, 0, 0x0F, 1) .. string.pack(">I4", 1) .. "x")),
        "unknown type code 0x0f")
    end)
  end)

  describe("write_idx refuses", function()
    it("tensors that are not uint8, 0-dim tensors, bad paths", function()
      H.assert_error(function() mg.write_idx(path("f.idx"), mg.zeros(2, 2)) end,
        "write_idx", path("f.idx"), "expected a uint8 tensor, got float32")
      H.assert_error(function() mg.write_idx(path("z.idx"), mg.scalar(1):byte()) end,
        "write_idx", "expected 1..8 dims, got a 0-dim tensor")
      local p = path("no/such/dir/x.idx")
      H.assert_error(function() mg.write_idx(p, sample_u8()) end, "write_idx", p)
      H.assert_error(function() mg.write_idx(path("o.idx"), sample_u8(), { gzip = 1 }) end, "write_idx", "gzip")
      H.assert_error(function() mg.write_idx(path("o.idx"), "x") end, "Tensor")
    end)
  end)
end)
