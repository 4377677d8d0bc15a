-- skip.lua -- a spec that cannot run here says why, visibly, instead of passing silently.
--   local skip = require "skip"
--   if skip.unless(has_python, "python3 with pip is not available") then return end
-- tools/run-tests.sh counts the "skipped: " lines into the final summary.
local M = {}

function M.skip(reason)
  io.stdout:write("\nskipped: ", reason, "\n")
  io.stdout:flush()
end

-- Prints the reason and returns true when cond is false (the caller then returns early).
function M.unless(cond, reason)
  if not cond then
    M.skip(reason)
    return true
  end
  return false
end

return M
