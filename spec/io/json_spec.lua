-- mg.json: encoding (sorted keys, numbers that read back exactly, arrays
-- versus objects) and strict decoding with errors that say where.
local H = require "helpers"
local mg = H.mg
local json = mg.json

describe("json.encode", function()
  it("writes objects with sorted keys, arrays, strings and literals", function()
    assert.are.equal('{"a":[1,2,3],"b":{"x":true,"y":false},"c":"hi","d":null}',
      json.encode({c = "hi", a = {1, 2, 3}, b = {y = false, x = true}, d = json.null}))
    assert.are.equal("[]", json.encode(json.array()))
    assert.are.equal("{}", json.encode({}))
    assert.are.equal("null", json.encode(nil))
    assert.are.equal('"\\"q\\" \\\\ \\n\\t\\r\\b\\f\\u0001 é"', json.encode('"q" \\ \n\t\r\b\f\1 é'))
  end)

  it("writes numbers that read back to the same value and type", function()
    local values = {0, -7, math.maxinteger, math.mininteger, 0.1, 1 / 3, -2.5e-300, 1e300, 2.0, -0.0, 5e-324,
      0.1 + 0.2, 1e21, 123456789.125}
    for _, v in ipairs(values) do
      local s = json.encode(v)
      local back = json.decode(s)
      assert.are.equal(v, back, s)
      assert.are.equal(math.type(v), math.type(back), s)
    end
    assert.are.equal("0.1", json.encode(0.1))
    assert.are.equal("2.0", json.encode(2.0))
    assert.are.equal("-0.0", json.encode(-0.0))
    assert.are.equal(-math.huge, 1 / json.decode(json.encode(-0.0)))
    assert.are.equal("[null,null,null]", json.encode({0 / 0, math.huge, -math.huge}))
  end)

  it("refuses what JSON cannot hold", function()
    H.assert_error(function() json.encode({1, 2, x = 3}) end, "json.encode: table at $ mixes list entries with key x")
    H.assert_error(function() json.encode({[1] = 1, [3] = 3}) end, "json.encode: array at $ has holes")
    H.assert_error(function() json.encode({a = {[true] = 1}}) end, "json.encode: object at $.a has a boolean key")
    H.assert_error(function() json.encode({f = print}) end, "json.encode: cannot encode a function (at $.f)")
    H.assert_error(function() json.encode("\255") end, "json.encode: string at $ is not valid UTF-8")
    local t = {}
    t.self = t
    H.assert_error(function() json.encode(t) end, "json.encode: $.self refers to itself")
    H.assert_error(function() json.encode({t = mg.zeros(1)}) end, "json.encode: cannot encode a userdata (at $.t)")
  end)
end)

describe("json.decode", function()
  it("reads objects, arrays, numbers, strings and literals", function()
    local v = json.decode(' {"a": [1, -2.5, 3e2, true, false, null], "s": "x\\u00e9\\ud83d\\ude00\\/\\n", "o": {}} \n')
    assert.are.same({1, -2.5, 300.0, true, false, json.null}, v.a)
    assert.are.equal("integer", math.type(v.a[1]))
    assert.are.equal("float", math.type(v.a[3]))
    assert.are.equal("xé😀/\n", v.s)
    assert.are.same({}, v.o)
    assert.are.equal(json.array_mt, getmetatable(v.a))
    assert.are.equal("[]", json.encode(json.decode("[]")))
    assert.are.equal(2 ^ 64, json.decode("18446744073709551616"))
  end)

  it("round-trips nested values", function()
    local v = {name = "run 3", lr = 3e-4, betas = {0.9, 0.999}, steps = 1200, groups = {{lr = 0.1}, {lr = 0.01}},
      ok = true, empty = json.array(), note = "ünïcode \"quoted\""}
    assert.are.same(v, json.decode(json.encode(v)))
    assert.are.equal(json.encode(v), json.encode(json.decode(json.encode(v))))
  end)

  it("refuses invalid JSON, saying where", function()
    local cases = {
      {"", "unexpected end of the text, expected a value at line 1, column 1"},
      {"[1,]", "trailing comma before ']' at line 1, column 4"},
      {'{"a":1,"a":2}', 'duplicate key "a" at line 1, column 8'},
      {"01", "numbers may not have leading zeros"},
      {"1.", "a digit must follow the decimal point"},
      {"1e+", "a digit must follow the exponent"},
      {"[1 2]", "expected ',' or ']', got '2' at line 1, column 4"},
      {'{"a" 1}', "expected ':' after an object key"},
      {"{1: 2}", "expected a string key, got '1'"},
      {'"abc', "unterminated string at line 1, column 1"},
      {'"a\nb"', "control character 0x0a in a string"},
      {'"\\x"', "unknown escape '\\x'"},
      {'"\\ud800"', "lone high surrogate \\ud800"},
      {'"\\udc00"', "lone low surrogate \\udc00"},
      {'"\255"', "invalid UTF-8 in a string"},
      {"nul", "unexpected 'n', expected a value"},
      {"[1]\n  x", "unexpected 'x' after the value at line 2, column 3"},
      {string.rep("[", 300), "nesting deeper than 200 levels"},
    }
    for _, c in ipairs(cases) do
      H.assert_error(function() json.decode(c[1]) end, "json.decode: " .. c[2])
    end
    H.assert_error(function() json.decode(5) end, "json.decode: expected a string, got number")
    H.assert_error(function() json.decode("[") end, "json_spec.lua:")
  end)

  it("rounds floats to what they mean when asked, keeping integers and exact fields", function()
    local t = { acc = 0.8060000538825989, loss = 1.3793436686197917, n = 60000, rate = 12345.678,
      half = 0.5, tiny = 1.5e-7, lr = 0.000987654321, nested = { 0.6499999761581421, 2 / 3 }, bad = 0 / 0 }
    assert.are.equal('{"acc":0.806,"bad":null,"half":0.5,"loss":1.379,"lr":0.000987654321,'
      .. '"n":60000,"nested":[0.65,0.6667],"rate":12346,"tiny":1.5e-07}',
      json.encode(t, { digits = 4, exact = { "lr" } }))
    assert.are.equal('{"a":0.8060000538825989}', json.encode({ a = 0.8060000538825989 }))
    assert.are.equal('{"a":0.81}', json.encode({ a = 0.8060000538825989 }, { digits = 2 }))
    H.assert_error(function() json.encode({}, { digit = 4 }) end, "json.encode: unknown option 'digit'")
    H.assert_error(function() json.encode({}, { digits = 0 }) end, "json.encode: digits must be an integer in 1..17")
  end)
end)
