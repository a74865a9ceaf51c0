-- PNG files: the structure of what write_png writes (signature, chunks,
-- CRC-32 computed here in pure Lua, IHDR fields), exact round trips, the
-- reader against files built here by hand (every filter type), and hostile
-- files, which must raise errors and never crash.
local H = require "helpers"
local mg = H.mg

-- ---- pure-Lua helpers ---------------------------------------------------------

local crc_table = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do
    if c & 1 == 1 then c = 0xEDB88320 ~ (c >> 1) else c = c >> 1 end
  end
  crc_table[n] = c
end

local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = crc_table[(c ~ s:byte(i)) & 0xFF] ~ (c >> 8) end
  return c ~ 0xFFFFFFFF
end

local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do
    a = (a + s:byte(i)) % 65521
    b = (b + a) % 65521
  end
  return (b << 16) | a
end

local SIG = "\137PNG\r\n\26\n"

local function chunk(typ, data)
  return string.pack(">I4", #data) .. typ .. data .. string.pack(">I4", crc32(typ .. data))
end

-- zlib stream of stored (uncompressed) deflate blocks.
local function zlib_stored(data)
  local parts = { "\x78\x01" }
  local pos = 1
  repeat
    local piece = data:sub(pos, pos + 65534)
    pos = pos + #piece
    local final = pos > #data and 1 or 0
    parts[#parts + 1] = string.char(final) .. string.pack("<I2<I2", #piece, (~#piece) & 0xFFFF) .. piece
  until pos > #data
  parts[#parts + 1] = string.pack(">I4", adler32(data))
  return table.concat(parts)
end

local function ihdr(w, h, depth, ctype, comp, filter, interlace)
  return chunk("IHDR", string.pack(">I4>I4BBBBB", w, h, depth or 8, ctype, comp or 0, filter or 0, interlace or 0))
end

local function paeth(a, b, c)
  local p = a + b - c
  local pa, pb, pc = math.abs(p - a), math.abs(p - b), math.abs(p - c)
  if pa <= pb and pa <= pc then return a end
  if pb <= pc then return b end
  return c
end

-- rows: list of byte lists; bpp bytes per pixel; filters: one type per row.
local function filtered(rows, bpp, filters)
  local out = {}
  for y, row in ipairs(rows) do
    local prev = rows[y - 1]
    local f = filters[(y - 1) % #filters + 1]
    out[#out + 1] = string.char(f)
    for i = 1, #row do
      local a = i > bpp and row[i - bpp] or 0
      local b = prev and prev[i] or 0
      local c = (prev and i > bpp) and prev[i - bpp] or 0
      local pred = ({ [0] = 0, a, b, (a + b) // 2, paeth(a, b, c) })[f]
      out[#out + 1] = string.char((row[i] - pred) % 256)
    end
  end
  return table.concat(out)
end

-- A whole PNG from raw (filtered) scanline bytes.
local function png(w, h, ctype, raw, extra)
  return SIG .. ihdr(w, h, 8, ctype) .. (extra or "") .. chunk("IDAT", zlib_stored(raw)) .. chunk("IEND", "")
end

local function chunks_of(s)
  assert.are.equal(SIG, s:sub(1, 8))
  local list, pos = {}, 9
  while pos <= #s do
    local len = string.unpack(">I4", s, pos)
    local typ = s:sub(pos + 4, pos + 7)
    local data = s:sub(pos + 8, pos + 7 + len)
    local crc = string.unpack(">I4", s, pos + 8 + len)
    list[#list + 1] = { type = typ, data = data, crc = crc, len = len }
    pos = pos + 12 + len
  end
  assert.are.equal(#s + 1, pos)
  return list
end

local function slurp(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

local function spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function same_bytes(a, b)
  assert.are.same(a:shape(), b:shape())
  assert.are.equal("uint8", b.dtype)
  assert.are.same(a:contiguous():view(-1):flat_values(), b:contiguous():view(-1):flat_values())
end

local tmp
before_each(function() tmp = os.tmpname() end)
after_each(function() os.remove(tmp) end)

local function random_u8(...)
  return mg.randint(0, 256, { ... }):byte()
end

describe("write_png", function()
  before_each(H.reseed(3))

  it("writes the signature, IHDR, IDAT and IEND with valid CRCs", function()
    assert.are.equal(tmp, mg.write_png(tmp, random_u8(2, 3, 3)))
    local list = chunks_of(slurp(tmp))
    assert.are.equal("IHDR", list[1].type)
    assert.are.equal("IEND", list[#list].type)
    assert.are.equal(0, list[#list].len)
    local idat = 0
    for _, c in ipairs(list) do
      assert.are.equal(crc32(c.type .. c.data), c.crc, "CRC of " .. c.type)
      if c.type == "IDAT" then idat = idat + 1 end
    end
    assert.is_true(idat >= 1)
    assert.are.equal(13, list[1].len)
    local w, h, depth, ctype, comp, filter, interlace = string.unpack(">I4>I4BBBBB", list[1].data)
    assert.are.same({ 3, 2, 8, 2, 0, 0, 0 }, { w, h, depth, ctype, comp, filter, interlace })
  end)

  it("sets the colour type from the channels", function()
    for _, case in ipairs({ { { 4, 5 }, 0 }, { { 4, 5, 1 }, 0 }, { { 4, 5, 3 }, 2 }, { { 4, 5, 4 }, 6 } }) do
      mg.write_png(tmp, random_u8(table.unpack(case[1])))
      local list = chunks_of(slurp(tmp))
      local w, h, _, ctype = string.unpack(">I4>I4BB", list[1].data)
      assert.are.same({ 5, 4, case[2] }, { w, h, ctype })
    end
  end)

  it("round-trips grey, RGB and RGBA exactly, odd widths and 1x1 included", function()
    for _, shape in ipairs({ { 5, 7 }, { 3, 5, 3 }, { 4, 3, 4 }, { 1, 1 }, { 1, 1, 3 }, { 1, 1, 4 },
                             { 29, 37, 3 }, { 2, 1, 4 }, { 1, 9 } }) do
      local img = random_u8(table.unpack(shape))
      mg.write_png(tmp, img)
      same_bytes(img, mg.read_png(tmp))
    end
  end)

  it("round-trips smooth images, where filters other than None win", function()
    local g = (mg.arange(0, 64):float():view(1, 64) + mg.arange(0, 48):float():view(48, 1) * 2):byte()
    local rgb = mg.zeros(48, 64, 3, { dtype = "uint8" })
    for c = 1, 3 do rgb:narrow(3, c, 1):copy_((g:float() * c):clamp(0, 255):view(48, 64, 1)) end
    mg.write_png(tmp, rgb)
    same_bytes(rgb, mg.read_png(tmp))
    -- smooth data compresses well below its raw size
    assert.is_true(#slurp(tmp) < 48 * 64 * 3 / 4)
  end)

  it("[H,W,1] reads back as [H,W]", function()
    local img = random_u8(3, 4, 1)
    mg.write_png(tmp, img)
    same_bytes(img:view(3, 4), mg.read_png(tmp))
  end)

  it("converts float32 in [0, 1], clipping and mapping NaN to 0", function()
    local f = mg.tensor({ { 0, 0.5, 1, 1.5 }, { -0.2, 0 / 0, 0.25, 1 / 255 } })
    mg.write_png(tmp, f)
    assert.are.same({ { 0, 128, 255, 255 }, { 0, 0, 64, 1 } }, mg.read_png(tmp):totable())
  end)

  it("writes non-contiguous views", function()
    local chw = mg.rand(3, 4, 5)
    mg.write_png(tmp, chw:permute(2, 3, 1))
    local back = mg.read_png(tmp):float() / 255
    H.assert_near(back, chw:permute(2, 3, 1), 0.5 / 255 + 1e-6, 0)
  end)

  it("refuses wrong shapes, dtypes and paths", function()
    H.assert_error(function() mg.write_png(tmp, mg.zeros(3, 4, 2)) end, "write_png", "[3, 4, 2]")
    H.assert_error(function() mg.write_png(tmp, mg.zeros(3, 4, 5)) end, "permute(2, 3, 1)")
    H.assert_error(function() mg.write_png(tmp, mg.zeros(4)) end, "write_png", "[H,W,3]")
    H.assert_error(function() mg.write_png(tmp, mg.zeros(2, 2, { dtype = "int64" })) end, "int64")
    H.assert_error(function() mg.write_png(tmp, mg.zeros(0, 2)) end, "write_png")
    H.assert_error(function() mg.write_png("/nonexistent-dir/x.png", mg.zeros(2, 2)) end, "write_png",
      "nonexistent-dir")
    H.assert_error(function() mg.write_png(tmp, "image") end, "Tensor")
  end)

  it("replaces the file in one step and leaves no temporary file", function()
    local dir = tmp .. ".d"
    os.execute("mkdir -p '" .. dir .. "'")
    mg.write_png(dir .. "/a.png", random_u8(2, 2))
    mg.write_png(dir .. "/a.png", random_u8(3, 3))
    assert.are.same({ 3, 3 }, mg.read_png(dir .. "/a.png"):shape())
    local p = io.popen("ls -A '" .. dir .. "'")
    local listing = p:read("a")
    p:close()
    os.execute("rm -rf '" .. dir .. "'")
    assert.are.equal("a.png\n", listing)
  end)
end)

describe("read_png", function()
  before_each(H.reseed(5))

  -- rows of bytes for a w x h image with c channels
  local function pattern(w, h, c)
    local rows = {}
    for y = 1, h do
      local row = {}
      for i = 1, w * c do row[i] = (y * 37 + i * 11 + (i * y) % 7 * 29) % 256 end
      rows[y] = row
    end
    return rows
  end

  local function as_tensor(rows, w, h, c)
    local flat = {}
    for _, row in ipairs(rows) do for _, v in ipairs(row) do flat[#flat + 1] = v end end
    local t = mg.tensor(flat, { dtype = "uint8" })
    return c == 1 and t:view(h, w) or t:view(h, w, c)
  end

  it("decodes every filter type, for grey, RGB and RGBA", function()
    for _, cc in ipairs({ { 0, 1 }, { 2, 3 }, { 6, 4 } }) do
      local ctype, c = cc[1], cc[2]
      local w, h = 5, 7
      local rows = pattern(w, h, c)
      for _, filters in ipairs({ { 0 }, { 1 }, { 2 }, { 3 }, { 4 }, { 4, 3, 2, 1, 0 } }) do
        spit(tmp, png(w, h, ctype, filtered(rows, c, filters)))
        same_bytes(as_tensor(rows, w, h, c), mg.read_png(tmp))
      end
    end
  end)

  it("skips ancillary chunks and accepts IDAT split in pieces", function()
    local rows = pattern(4, 3, 3)
    local z = zlib_stored(filtered(rows, 3, { 4 }))
    local s = SIG .. ihdr(4, 3, 8, 2) .. chunk("tEXt", "Comment\0hello") .. chunk("IDAT", z:sub(1, 5))
      .. chunk("IDAT", "") .. chunk("IDAT", z:sub(6)) .. chunk("IEND", "")
    spit(tmp, s)
    same_bytes(as_tensor(rows, 4, 3, 3), mg.read_png(tmp))
  end)

  local function bad(s, ...)
    spit(tmp, s)
    H.assert_error(function() mg.read_png(tmp) end, "read_png", ...)
  end

  local good_raw = filtered(pattern(3, 2, 3), 3, { 0 })

  it("refuses files that are not PNG", function()
    bad("hello, world", "not a PNG")
    bad("", "not a PNG")
    H.assert_error(function() mg.read_png(tmp .. ".missing") end, "read_png", "cannot open")
  end)

  it("refuses bad CRCs", function()
    local s = png(3, 2, 2, good_raw)
    -- flip one byte inside IDAT's data (after signature 8 + IHDR 25 + IDAT header 8)
    local at = 8 + 25 + 8 + 3
    bad(s:sub(1, at - 1) .. string.char(s:byte(at) ~ 0x20) .. s:sub(at + 1), "CRC mismatch", "IDAT")
    -- and in IHDR's CRC itself
    bad(s:sub(1, 29) .. "\0\0\0\0" .. s:sub(34), "CRC mismatch", "IHDR")
  end)

  it("refuses every truncation of a valid file", function()
    local s = png(3, 2, 2, good_raw)
    spit(tmp, s)
    mg.read_png(tmp)
    for n = 0, #s - 1 do
      spit(tmp, s:sub(1, n))
      local ok, err = pcall(mg.read_png, tmp)
      assert.is_false(ok, "a file cut to " .. n .. " bytes was accepted")
      assert.is_truthy(tostring(err):find("read_png", 1, true))
    end
  end)

  it("refuses bad IHDR fields", function()
    local z = chunk("IDAT", zlib_stored(good_raw)) .. chunk("IEND", "")
    bad(SIG .. ihdr(3, 2, 16, 2) .. z, "bit depth 16")
    bad(SIG .. ihdr(3, 2, 8, 3) .. z, "colour type 3")
    bad(SIG .. ihdr(3, 2, 8, 4) .. z, "colour type 4")
    bad(SIG .. ihdr(3, 2, 8, 2, 0, 0, 1) .. z, "interlaced")
    bad(SIG .. ihdr(3, 2, 8, 2, 0, 0, 2) .. z, "interlace method 2")
    bad(SIG .. ihdr(3, 2, 8, 2, 1) .. z, "compression or filter method")
    bad(SIG .. ihdr(0, 2, 8, 2) .. z, "invalid image size 0x2")
    bad(SIG .. ihdr(0x80000000, 2, 8, 2) .. z, "invalid image size")
    bad(SIG .. chunk("IHDR", string.pack(">I4>I4BBBB", 3, 2, 8, 2, 0, 0)) .. z, "IHDR has 12 bytes")
    bad(SIG .. z, "first chunk is IDAT")
    bad(SIG .. ihdr(3, 2, 8, 2) .. ihdr(3, 2, 8, 2) .. z, "second IHDR")
  end)

  it("refuses huge dimensions without allocating them", function()
    local z = chunk("IDAT", zlib_stored(good_raw)) .. chunk("IEND", "")
    bad(SIG .. ihdr(100000, 100000, 8, 6) .. z, "too large")
    bad(SIG .. ihdr(20000, 20000, 8, 0) .. z, "cannot hold")
  end)

  it("refuses bad image data", function()
    -- a row with filter type 7
    local raw = good_raw:sub(1, 10) .. "\7" .. good_raw:sub(12)
    bad(png(3, 2, 2, raw), "unknown filter type 7")
    -- too little and too much data
    bad(png(3, 2, 2, good_raw:sub(1, -2)), "truncated")
    bad(png(3, 2, 2, good_raw .. "\0\1\2"), "more image data")
    -- not a zlib stream
    bad(SIG .. ihdr(3, 2, 8, 2) .. chunk("IDAT", string.rep("\255", 40)) .. chunk("IEND", ""), "corrupt")
    -- a wrong Adler-32 at the end of the stream
    local z = zlib_stored(good_raw)
    z = z:sub(1, -2) .. string.char(z:byte(-1) ~ 1)
    bad(SIG .. ihdr(3, 2, 8, 2) .. chunk("IDAT", z) .. chunk("IEND", ""), "corrupt")
    -- no IDAT, IDAT after another chunk, unknown critical chunk, no IEND
    bad(SIG .. ihdr(3, 2, 8, 2) .. chunk("IEND", ""), "no image data")
    local half = zlib_stored(good_raw)
    bad(SIG .. ihdr(3, 2, 8, 2) .. chunk("IDAT", half:sub(1, 4)) .. chunk("tEXt", "a\0b")
      .. chunk("IDAT", half:sub(5)) .. chunk("IEND", ""), "not consecutive")
    bad(SIG .. ihdr(3, 2, 8, 2) .. chunk("ABCD", "x") .. chunk("IDAT", half) .. chunk("IEND", ""),
      "unknown critical chunk ABCD")
    bad(SIG .. ihdr(3, 2, 8, 2) .. chunk("IDAT", half), "truncated")
    bad(SIG .. ihdr(3, 2, 8, 2) .. string.pack(">I4", 0x90000000) .. "IDATdatacrc!", "out of range")
  end)

  it("survives random corruption (errors or images, never a crash)", function()
    local base = png(6, 5, 6, filtered(pattern(6, 5, 4), 4, { 0, 1, 2, 3, 4 }))
    local rng = 12345
    local function rand(n) -- small LCG: the same cases every run
      rng = (rng * 1103515245 + 12345) % 2147483648
      return rng % n + 1
    end
    local errors = 0
    for _ = 1, 150 do
      -- corrupt a byte after the signature, then repair the CRCs so the
      -- damage reaches the parser rather than the CRC check
      local b = { base:byte(1, -1) }
      for _ = 1, rand(3) do b[8 + rand(#b - 8)] = rand(256) - 1 end
      local s = string.char(table.unpack(b))
      local pos, fixed = 9, { s:sub(1, 8) }
      while pos + 11 <= #s do
        local len = string.unpack(">I4", s, pos)
        if pos + 11 + len > #s then break end
        local body = s:sub(pos + 4, pos + 7 + len)
        fixed[#fixed + 1] = s:sub(pos, pos + 3) .. body .. string.pack(">I4", crc32(body))
        pos = pos + 12 + len
      end
      fixed[#fixed + 1] = s:sub(pos)
      spit(tmp, table.concat(fixed))
      local ok, res = pcall(mg.read_png, tmp)
      if ok then
        assert.is_true(mg.is_tensor(res))
      else
        errors = errors + 1
        assert.is_truthy(tostring(res):find("read_png", 1, true))
      end
    end
    assert.is_true(errors > 50)
  end)
end)
