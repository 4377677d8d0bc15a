-- graphids.cli.data.inspect -- `graphids data inspect [--dataset NAME] [options] [--json]`: the
-- metadata of the built dataset caches (or of the one the options select), as summaries or JSON.
local build = require "graphids.cli.data.build"
local errors = require "graphids.errors"

local M = {}

M.summary = "show a dataset cache's parameters and per-split statistics"

-- build's options that do nothing here: inspect takes no lock and prints no progress
local OMIT = { ["--lock-timeout"] = true, ["-q"] = true, ["--quiet"] = true }

local USAGE = [[
usage: graphids data inspect [--dataset NAME] [--lake-root DIR] [cache options] [--json]

Prints the cache's invariants and, per split (train, val, each test set), the graph count,
node/edge count statistics and attack balance.  With cache options (--seed, --stride, ...) the
one cache built with them; without, every cache of this preprocessing version under the lake
root (of NAME only with --dataset).  --json prints cache_metadata.json itself for one cache, and
for a listing an object of them keyed by <dataset>/<parameters folder>.  Checks each cache's
files against its metadata as a load does, reading their headers but no graph data (present, of
the recorded size, headers that read, graph and index counts, captures, vocabulary).  Exits 1
when there is no cache, one is damaged, or the dataset catalog does not read (each problem
named on stderr).

]] .. build.options_help(OMIT, "  --json                 the metadata as JSON\n"):gsub(" %(required%)", "")

-- The parameters that select one cache (cli.data.build's options besides the roots).
local SELECTORS = { "window_size", "stride", "val_fraction", "seed", "vocab_from", "node_by_id", "scaler",
  "calibration" }

-- Every cache under the lake root (of one dataset when given).
local function list_all(data, o, copts)
  local okl, rows, root = pcall(data.list_caches, { lake_root = copts.lake_root, dataset = o.dataset })
  if not okl then
    local msg = errors.strip_own_position(rows):gsub("^list_caches: ", "")
    io.stderr:write("graphids data inspect: ", msg, "\n")
    return 1
  end
  if #rows == 0 and o.dataset ~= nil then
    -- an unknown name gets the catalog's list, not an invitation to build it
    local known, err = pcall(require("graphids.data.catalog").dataset_info, o.dataset, copts)
    if not known then
      io.stderr:write("graphids data inspect: ", errors.strip_own_position(err), "\n")
      return 1
    end
  end
  if #rows == 0 then
    -- the build hint names the roots and catalog given here (quoted for the shell), so it builds
    -- where this looked
    local quote, hint = require("graphids.shell").quote, ""
    if o.dataset then
      hint = "; build one: graphids data build --dataset " .. o.dataset .. " --lake-root=" ..
        quote(require("graphids.data.catalog").lake_root(copts)) ..
        (o.data_root and (" --data-root=" .. quote(o.data_root)) or "") ..
        (o.catalog and (" --catalog=" .. quote(o.catalog)) or "")
    end
    io.stderr:write("graphids data inspect: no dataset caches", o.dataset and (" of " .. o.dataset) or "",
      " under ", root, hint, "\n")
    return 1
  end
  local damaged = 0
  for _, r in ipairs(rows) do
    for _, p in ipairs(r.problems) do
      io.stderr:write("graphids data inspect: ", r.dir, ": ", errors.strip_own_position(p), "\n")
    end
    if #r.problems > 0 then damaged = damaged + 1 end
  end
  -- a damaged cache is named above, not listed: its metadata may describe files it lacks
  if o.json then
    local all = {}
    for _, r in ipairs(rows) do
      if r.metadata and #r.problems == 0 then all[r.dataset .. "/" .. r.variant] = r.metadata end
    end
    io.stdout:write(require("graphids.json").encode(all, { indent = 2 }), "\n")
  else
    for _, r in ipairs(rows) do
      if r.metadata and #r.problems == 0 then build.print_summary(r.metadata, r.dir, io.stdout) end
    end
  end
  if damaged > 0 then
    io.stderr:write(string.format("graphids data inspect: %d damaged cache%s: rebuild %s (graphids data " ..
      "rebuild) or delete %s\n", damaged, damaged == 1 and "" or "s", damaged == 1 and "it" or "them",
      damaged == 1 and "its folder" or "their folders"))
    return 1
  end
  return 0
end

function M.main(args)
  local o, err = build.parse(args, { ["--json"] = "json" }, true, OMIT)
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
  local selected = false
  for _, k in ipairs(SELECTORS) do selected = selected or o[k] ~= nil end
  if not selected then
    return list_all(data, o, copts)
  end
  if o.dataset == nil then
    io.stderr:write("graphids data inspect: cache options select one cache of one dataset: add --dataset\n")
    return 2
  end
  local ok, meta, dir = pcall(data.inspect_cache, o.dataset, copts)
  if not ok or meta == nil then
    io.stderr:write("graphids data inspect: ", errors.strip_own_position(ok and dir or meta), "\n")
    return 1
  end
  if o.json then
    io.stdout:write(require("graphids.json").encode(meta, { indent = 2 }), "\n")
  else
    build.print_summary(meta, dir, io.stdout)
  end
  local problems = data.cache_problems(dir, meta)
  for _, p in ipairs(problems) do io.stderr:write("graphids data inspect: ", dir, ": ", p, "\n") end
  -- a stale cache is sound but of other captures than the catalog's now: said, not an error
  -- (the next build or stage rebuilds it, or, of a dataset the catalog does not list, a load
  -- refuses it); so is a cache whose captures could not be compared, as a load says it
  -- (a catalog that does not read, --catalog or $GRAPHIDS_CATALOG, is named as a build names it:
  -- the captures were not compared, and a load with it fails)
  local okc, stale, refused, unchecked = pcall(data.captures_check, o.dataset, copts, meta)
  if not okc then
    io.stderr:write("graphids data inspect: ", errors.strip_own_position(stale), "\n")
    return 1
  end
  local function note(msg) io.stderr:write("graphids data inspect: note: ", msg, "\n") end
  if unchecked then note(unchecked) end
  if refused then
    note("a load refuses this cache: " .. refused)
  elseif stale then
    note(stale .. "; the next `graphids data build` or stage rebuilds it")
  end
  return #problems > 0 and 1 or 0
end

return M
