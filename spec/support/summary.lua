-- busted output handler: busted's usual terminal output, then the closing
-- line CI reads: "N passed, N failed" (errors, in tests or while loading a
-- spec file, count as failed).
return function(options)
  local busted = require "busted"
  local term = os.getenv("TERM")
  local base_name = (term and term ~= "dumb") and "utfTerminal" or "plainTerminal"
  local handler = require("busted.outputHandlers." .. base_name)(options)
  busted.subscribe({ "suite", "end" }, function()
    local failed = handler.failuresCount + handler.errorsCount
    io.write("\n", handler.successesCount, " passed, ", failed, " failed\n")
    io.flush()
    return nil, true
  end)
  return handler
end
