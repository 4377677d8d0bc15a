-- cache_bench.lua -- the dataset cache on the full hcrl_sa: build time (CSV -> cached graphs),
-- reload time (memory-mapped load of every split), and the build's peak RSS against the bytes
-- of the CSV files.  Medians of RUNS; each run is a fresh process, so the RSS peak is the
-- build's own and no memo or page cache of this process helps the reload.
--   LUA_PATH="stdlib/?.lua;stdlib/?/init.lua;;" LUA_CPATH="build/lua/?.so;;" \
--     lua5.4 bench/data/cache_bench.lua [data_root] [runs]
-- Prints rows in tools/run-bench.sh's format: "<name> <value> <unit> <description>".
-- Targets (issue): build <= 2 s, reload <= 0.2 s, peak RSS <= 2x CSV bytes.
local root = arg[1] or "../shared/data/can"
local runs = tonumber(arg[2] or "5")

local function hwm_kb()
  local f = assert(io.open("/proc/self/status"))
  local s = f:read("a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)"))
end

local function now()
  return require("graphids").clock()
end

-- Child mode: one measurement, printed as "<seconds> <peak kB>".
if arg[3] == "--child" then
  local data = require "graphids.data"
  local what, lake = arg[4], arg[5]
  local t0 = now()
  if what == "build" then
    data.rebuild_cache("hcrl_sa", { data_root = root, lake_root = lake })
  else
    local c = data.load_cache("hcrl_sa", { data_root = root, lake_root = lake, build = false })
    assert(c.train.num_graphs > 0)
  end
  print(string.format("%.6f %d", now() - t0, hwm_kb()))
  return
end

local gio = require "graphids.io"
if not gio.is_dir(gio.join(root, "hcrl_sa")) then
  print("skipped: hcrl_sa is not at " .. root)
  return
end
local ds = require("graphids.data").resolve_dataset("hcrl_sa", { data_root = root })
local lake = os.tmpname()
os.remove(lake)

local function child(what)
  local cmd = string.format("lua5.4 %s %q %d --child %s %q", arg[0], root, runs, what, lake)
  local p = assert(io.popen(cmd))
  local out = p:read("a")
  p:close()
  local s, kb = out:match("([%d.]+) (%d+)")
  assert(s, "child failed: " .. out)
  return tonumber(s), tonumber(kb)
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

local builds, loads, peaks = {}, {}, {}
for i = 1, runs do
  builds[i], peaks[i] = child("build")
  loads[i] = child("load")
end
gio.remove_tree(lake)
local mb = ds.raw_bytes / 1e6
print(string.format("cache_build_hcrl_sa_s %.3f s full hcrl_sa CSV (%.1f MB) -> cached graphs " ..
  "(target <= 2)", median(builds), mb))
print(string.format("cache_reload_hcrl_sa_s %.4f s memory-mapped load of train+val+4 test sets " ..
  "(target <= 0.2)", median(loads)))
print(string.format("cache_build_peak_rss_x %.2f x peak RSS %.0f MB / CSV bytes (target <= 2)",
  median(peaks) * 1024 / ds.raw_bytes, median(peaks) / 1024))
