-- graphids.cli.data.inspect -- `graphids data inspect --dataset NAME [--json]`: the metadata of a
-- built dataset cache, as a summary or as its full JSON.
local build = require "graphids.cli.data.build"

local M = {}

M.summary = "show a dataset cache's parameters and per-split statistics"

local USAGE = [[
usage: graphids data inspect [--dataset NAME] [--lake-root DIR] [--json]

Prints the cache's invariants and, per split (train, val, each test set), the graph count,
node/edge count statistics and attack balance.  --json prints cache_metadata.json itself.
Without --dataset, every cache of this preprocessing version under the lake root.  Exits 1 when
there is no cache.

]] .. build.OPTIONS .. "  --json                 the metadata as JSON\n"

-- Every dataset cache of this version under the lake root (sorted by dataset name).
local function list_all(data, copts, as_json)
  local gio = require "graphids.io"
  local root = gio.join(data.lake_root(copts), "cache", "v" .. data.PREPROCESSING_VERSION)
  local all, found = {}, 0
  for _, name in ipairs(gio.list_dir(root) or {}) do
    local meta, dir = data.inspect_cache(name, copts)
    if meta then
      found = found + 1
      all[name] = meta
      if not as_json then
        build.print_summary(meta, dir, io.stdout)
      end
    end
  end
  if found == 0 then
    io.stderr:write("graphids data inspect: no dataset caches under ", root, "\n")
    return 1
  end
  if as_json then
    io.stdout:write(require("graphids.json").encode(all, { indent = 2 }), "\n")
  end
  return 0
end

function M.main(args)
  local o, err = build.parse(args, { ["--json"] = "json" }, true)
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
  if o.dataset == nil then
    return list_all(data, copts, o.json)
  end
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
