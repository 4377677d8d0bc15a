-- graphids.cli.data.rebuild -- `graphids data rebuild --dataset NAME [options]`: deletes the
-- dataset's cache and builds it again (the fix for an invariant mismatch).
local build = require "graphids.cli.data.build"

local M = {}

M.summary = "build a dataset cache anew where one exists (an old version, corrupt files)"

local USAGE = [[
usage: graphids data rebuild --dataset NAME [options]

Like `graphids data build`, but replaces the cache of these parameters where one exists,
whatever version built it and whatever state it is in (under the same lock, so a concurrent
reader never sees a half-written cache).  Caches of other parameters stay: each set of
parameters has a folder of its own.

]] .. build.OPTIONS

function M.main(args)
  return build.run(args, "rebuild", USAGE, true)
end

return M
