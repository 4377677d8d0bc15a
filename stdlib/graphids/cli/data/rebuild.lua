-- graphids.cli.data.rebuild -- `graphids data rebuild --dataset NAME [options]`: deletes the
-- dataset's cache and builds it again (the fix for an invariant mismatch).
local build = require "graphids.cli.data.build"

local M = {}

M.summary = "delete and rebuild the dataset cache (new parameters, new version, corrupt files)"

local USAGE = [[
usage: graphids data rebuild --dataset NAME [options]

Like `graphids data build`, but replaces an existing cache whatever parameters it was built
with (under the same lock, so a concurrent reader never sees a half-written cache).

]] .. build.OPTIONS

function M.main(args)
  return build.run(args, "rebuild", USAGE, true)
end

return M
