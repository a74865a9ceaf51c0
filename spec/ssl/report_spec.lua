local mg = require "moongrad"

describe("ssl.label_counts and ssl.report_row", function()
  it("reads an example's --labels option", function()
    assert.same({ 100, 1000, "all" }, mg.ssl.label_counts("100,1000,all"))
    assert.same({ 5 }, mg.ssl.label_counts("5"))
  end)

  it("writes each evaluation row to the metrics log", function()
    local written = {}
    local log = { write = function(_, t) written[#written + 1] = t end }
    mg.ssl.report_row(log)({ labels = 100, probe = 0.5, fine_tune = 0.6, scratch = 0.4 })
    assert.same({ phase = "evaluation", labels = 100, probe = 0.5, fine_tune = 0.6, scratch = 0.4 }, written[1])
  end)
end)
