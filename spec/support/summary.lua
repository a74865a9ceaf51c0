-- busted output handler: busted's usual terminal output, then the closing
-- line CI reads: "N passed, N failed" (errors count as failed).
return function(options)
  local busted = require "busted"
  local base_name = (os.getenv("TERM") and os.getenv("TERM") ~= "dumb") and "utfTerminal" or "plainTerminal"
  local handler = require("busted.outputHandlers." .. base_name)(options)
  local passed, failed = 0, 0
  busted.subscribe({ "test", "end" }, function(element, parent, status)
    if status == "success" then passed = passed + 1
    elseif status == "failure" or status == "error" then failed = failed + 1 end
    return nil, true
  end)
  busted.subscribe({ "error" }, function()
    failed = failed + 1
    return nil, true
  end)
  busted.subscribe({ "suite", "end" }, function()
    io.write("\n", passed, " passed, ", failed, " failed\n")
    io.flush()
    return nil, true
  end)
  return handler
end
