-- graphids.cli.data.build -- `graphids data build --dataset NAME [options]`: window graphs of a
-- catalog dataset into the dataset cache (docs/data.md).  Also holds the argument parser that
-- `inspect` and `rebuild` share.
local errors = require "graphids.errors"

local M = {}

M.summary = "build the dataset cache (window graphs, vocabulary, scaler, metadata)"

-- Each option's lines of the help text (-q stands for -q and --quiet).
local HELP = {
  ["--dataset"] = [[
  --dataset NAME         a name the catalog lists (recipes/datasets.lua: hcrl_ch, hcrl_sa,
                         set_01..set_04, synthetic) (required)
]],
  ["--data-root"] = [[
  --data-root DIR        folder holding <NAME>/<train and test sub-folders> (default
                         $GRAPHIDS_DATA_ROOT; synthetic needs none: it is generated)
]],
  ["--lake-root"] = [[
  --lake-root DIR        cache and generated data go under DIR (default $GRAPHIDS_LAKE_ROOT or ./lake)
]],
  ["--catalog"] = [[
  --catalog FILE         the dataset catalog: a Lua file returning name -> {train, test, ...}
                         (docs/data.md; default $GRAPHIDS_CATALOG, else recipes/datasets.lua)
]],
  ["--window-size"] = [[
  --window-size N        frames per window, 3..1048576 (default 100; 2 frames make no edge)
]],
  ["--stride"] = [[
  --stride N             frames between window starts (default 100)
]],
  ["--val-fraction"] = [[
  --val-fraction F       share of the train graphs held out for validation (default 0.2)
]],
  ["--seed"] = [[
  --seed N               seed of the train/val split (default 42)
]],
  ["--vocab-from"] = [[
  --vocab-from all|benign  the id vocabulary from every train frame (default, the reference) or
                         from the frames labelled normal only (ids only attacks use stay unknown)
]],
  ["--node-by-id"] = [[
  --node-by-id           one node per distinct CAN id, unknown ids included (default: the
                         reference's one UNK node for all unknown ids of a window)
]],
  ["--scaler"] = [[
  --scaler train|per_file  z-score with the train split's statistics (default) or each capture
                         file with its own (a vehicle's traffic on its own scale)
]],
  ["--calibration"] = [[
  --calibration F        with --scaler per_file: the share of each capture's first windows its
                         statistics come from (default 1 = all of them)
]],
  ["--lock-timeout"] = [[
  --lock-timeout S       seconds to wait for another build's lock (default 600)
]],
  ["-q"] = [[
  -q, --quiet            no progress lines
]],
}
-- The options in the order of the help text (the did-you-mean hint takes the first nearest).
local OPTION_ORDER = { "--dataset", "--data-root", "--lake-root", "--catalog", "--window-size", "--stride",
  "--val-fraction", "--seed", "--vocab-from", "--node-by-id", "--scaler", "--calibration", "--lock-timeout",
  "-q", "--quiet" }

-- The help text of the options besides those in omit ({["--opt"] = true}), with extra (lines of
-- the command's own options) before -h.
function M.options_help(omit, extra)
  local out = { "options:\n" }
  for _, a in ipairs(OPTION_ORDER) do
    if HELP[a] and not (omit or {})[a] then out[#out + 1] = HELP[a] end
  end
  out[#out + 1] = (extra or "") .. "  -h, --help             this text\n"
  return table.concat(out)
end

M.OPTIONS = M.options_help()

local USAGE = [[
usage: graphids data build --dataset NAME [options]

Reads the dataset's captures, builds the window graphs, fits the vocabulary and scaler on the
train part and writes the cache under <lake-root>/cache/v<version>/<NAME>/<parameters>/ (a
folder per set of parameters, w100-s100-val0.2-seed42-...: several seeds or graph modes share a
lake).  A complete cache with these parameters is left as it is (`graphids data rebuild`
builds it again).

]] .. M.OPTIONS

local INT = { ["--window-size"] = "window_size", ["--stride"] = "stride", ["--seed"] = "seed" }
-- Why the value of an integer option is refused, or nil: a usage error (exit 2) here, not a
-- failure of the build it would start (after reading every capture).
local INT_MIN = { ["--stride"] = 1, ["--seed"] = 0 }
local function int_problem(a, n)
  if a == "--window-size" then return require("graphids.data.cache").window_size_problem(n) end
  if n == nil or n < INT_MIN[a] then return "must be an integer >= " .. INT_MIN[a] end
  return nil
end
local NUM = { ["--val-fraction"] = "val_fraction", ["--lock-timeout"] = "lock_timeout",
  ["--calibration"] = "calibration" }
local STR = { ["--dataset"] = "dataset", ["--data-root"] = "data_root", ["--lake-root"] = "lake_root",
  ["--catalog"] = "catalog", ["--vocab-from"] = "vocab_from", ["--scaler"] = "scaler" }
local FLAG = { ["--node-by-id"] = "node_by_id", ["-q"] = "quiet", ["--quiet"] = "quiet" }

-- args -> opts (cache options + dataset, quiet, json, help) or nil, message.  extra_flags:
-- {["--flag"] = key} of boolean flags; dataset_optional: --dataset may be absent; omit:
-- {["--opt"] = true} of this file's options the command does not take (an unknown option
-- there, not one accepted and ignored).  The options parse as every command's
-- (graphids.orchestrate.cliargs: --opt=value, "takes no value", the did-you-mean hint); an
-- empty value is a usage error (an empty --lake-root is not ./lake).
function M.parse(args, extra_flags, dataset_optional, omit)
  local flags, values = {}, {}
  for _, a in ipairs(OPTION_ORDER) do
    if not (omit or {})[a] then
      if FLAG[a] then flags[#flags + 1] = a else values[#values + 1] = a end
    end
  end
  local keys = {}
  for a in pairs(extra_flags or {}) do keys[#keys + 1] = a end
  table.sort(keys)
  table.move(keys, 1, #keys, #flags + 1, flags)
  local p, perr = require("graphids.orchestrate.cliargs").parse(args, { value = values, flag = flags,
    nonempty = true })
  if p == nil then return nil, perr end
  if p.help then return { help = true } end -- whatever the other words hold (as argparse)
  if p["-q"] and p["--quiet"] then return nil, "-q and --quiet are one option; give it once" end
  local o = {}
  for _, a in ipairs(flags) do
    if p[a] then o[FLAG[a] or extra_flags[a]] = true end
  end
  for _, a in ipairs(values) do
    local key, v = INT[a] or NUM[a] or STR[a], p[a]
    if v ~= nil and INT[a] then
      o[key] = math.tointeger(tonumber(v))
      local bad = int_problem(a, o[key])
      if bad then return nil, a .. ": '" .. v .. "' " .. bad end
    elseif v ~= nil and NUM[a] then
      o[key] = tonumber(v)
      if o[key] == nil then
        return nil, a .. ": '" .. v .. "' is not a number"
      end
    elseif v ~= nil then
      o[key] = v
    end
  end
  if o.dataset == nil and not dataset_optional then
    return nil, "--dataset NAME is required"
  end
  -- a value the build would refuse (a choice, a range) is a usage error too, named by its flag
  local cache = require "graphids.data.cache"
  local merged = {}
  for k, v in pairs(cache.OPTION_DEFAULTS) do merged[k] = v end
  for k, v in pairs(o) do merged[k] = v end
  local ok, err = pcall(cache.check_options, "data", merged, 0)
  if not ok then
    local key, rest = tostring(err):match("^data: ([%w_]+) (.*)$")
    return nil, key and ("--" .. key:gsub("_", "-") .. " " .. rest) or tostring(err)
  end
  -- (a file that is not there is a usage error; what it holds is checked when it is read)
  if o.catalog ~= nil and not require("graphids.io").exists(o.catalog) then
    return nil, "--catalog: '" .. o.catalog .. "' does not exist"
  end
  if o.lock_timeout ~= nil and o.lock_timeout < 0 then
    return nil, "--lock-timeout: '" .. o.lock_timeout .. "' must be a number of seconds >= 0"
  end
  return o
end

-- The graphids.data cache options of parsed arguments.
function M.cache_opts(o)
  local c = {}
  for _, k in ipairs({ "data_root", "lake_root", "catalog", "window_size", "stride", "val_fraction", "seed",
    "vocab_from", "node_by_id", "scaler", "calibration", "lock_timeout" }) do
    c[k] = o[k]
  end
  if not o.quiet then
    c.log = function(msg)
      io.stderr:write(msg, "\n")
    end
  end
  return c
end

-- One line per split: "train  29 graphs  nodes 7..50 (mean 32.6)  edges ...  normal=20 dos=9".
function M.print_summary(meta, dir, out)
  out:write(string.format("%s: dataset %s, preprocessing v%s, window %d / stride %d, val %.3g, seed %d, " ..
    "%d ids + UNK\n", dir, meta.dataset, meta.preprocessing_version, meta.window_size, meta.stride,
    meta.val_fraction, meta.seed, meta.num_ids - 1))
  local names = { "train", "val" }
  for _, t in ipairs(meta.test_sets or {}) do
    names[#names + 1] = t
  end
  for _, name in ipairs(names) do
    local s = meta.splits[name]
    local bal = {}
    local keys = {}
    for k in pairs(s.attack_balance) do
      keys[#keys + 1] = k
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
      bal[#bal + 1] = k .. "=" .. s.attack_balance[k]
    end
    local n, e = s.graph_stats.node_count, s.graph_stats.edge_count
    out:write(string.format("  %-40s %7d graphs  nodes %d..%d (mean %.1f, p99 %.0f)  edges %d..%d  %s\n",
      name, s.num_graphs, n.min, n.max, n.mean, n.p99, e.min, e.max, table.concat(bal, " ")))
  end
end

-- Shared body of build and rebuild.
function M.run(args, verb, usage, force)
  local o, err = M.parse(args)
  if o == nil then
    io.stderr:write("graphids data ", verb, ": ", err, "\n\n", usage)
    return 2
  end
  if o.help then
    io.stdout:write(usage)
    return 0
  end
  local data = require "graphids.data"
  local copts = M.cache_opts(o)
  local t0 = os.time()
  local ok, meta = pcall(function()
    -- a simulated dataset's cache built from another simulation's captures is not up to date:
    -- it is rebuilt from the captures the catalog describes, with a warning; one whose captures
    -- are not there to compare is used as built, and said so as a load and inspect say it
    if not force then
      local _, unchecked = require("graphids.data.catalog").rebuild_stale_cache(o.dataset, copts,
        function(msg)
          io.stderr:write("graphids data ", verb, ": warning: ", msg, "\n")
        end)
      if unchecked then io.stderr:write("graphids data ", verb, ": note: ", unchecked, "\n") end
    end
    return (force and data.rebuild_cache or data.build_cache)(o.dataset, copts)
  end)
  if not ok then
    io.stderr:write("graphids data ", verb, ": ", errors.strip_own_position(meta), "\n")
    return 1
  end
  M.print_summary(meta, data.cache_dir(o.dataset, copts), io.stdout)
  if not o.quiet then
    io.stderr:write(string.format("done in %d s\n", os.time() - t0))
  end
  return 0
end

function M.main(args)
  return M.run(args, "build", USAGE, false)
end

return M
