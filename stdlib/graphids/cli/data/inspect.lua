-- graphids.cli.data.inspect -- `graphids data inspect --dataset NAME [--json]`: the metadata of a
-- built dataset cache, as a summary or as its full JSON.
local build = require "graphids.cli.data.build"

local M = {}

M.summary = "show a dataset cache's parameters and per-split statistics"

local USAGE = [[
usage: graphids data inspect --dataset NAME [--lake-root DIR] [--json]

Prints the cache's invariants and, per split (train, val, each test set), the graph count,
node/edge count statistics and attack balance.  --json prints cache_metadata.json itself.
Exits 1 when there is no cache.

]] .. build.OPTIONS .. "  --json                 the metadata as JSON\n"

function M.main(args)
  local o, err = build.parse(args, { ["--json"] = "json" })
  if o == nil then
    io.stderr:write("graphids data inspect: ", err, "\n\n", USAGE)
    return 2
  end
  if o.help then
    io.stdout:write(USAGE)
    return 0
  end
  local data = require "graphids.data"
  local copts = build.cache_opts(o)
  copts.log = nil
  local ok, meta, dir = pcall(data.inspect_cache, o.dataset, copts)
  if not ok or meta == nil then
    io.stderr:write("graphids data inspect: ", build.clean(ok and dir or meta), "\n")
    return 1
  end
  if o.json then
    io.stdout:write(require("graphids.json").encode(meta, { indent = 2 }), "\n")
  else
    build.print_summary(meta, dir, io.stdout)
  end
  return 0
end

return M
