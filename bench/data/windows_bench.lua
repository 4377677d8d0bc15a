-- windows_bench.lua -- hcrl_sa (or another dataset of that layout) from CSV to scaled graph
-- sets, timed by stage (median of runs), and the same windows checked against the polars peer
-- (bench/peer/windows_peer.py).
--   lua5.4 bench/data/windows_bench.lua [data_root/hcrl_sa] [runs]
-- Prints "windows_<stage>_s <median seconds>" rows, frames/s of the graph building, and the
-- peer's time and verdict when the peer venv is available.  Needs the dataset; skips otherwise.
local graphids = require "graphids"
local data = require "graphids.data"
local gio = require "graphids.io"

local root = arg[1] or "../shared/data/can/hcrl_sa"
local runs = tonumber(arg[2] or "3")
local TRAIN = { "train_01_attack_free", "train_02_with_attacks" }
local TESTS = { "test_01_known_vehicle_known_attack", "test_02_unknown_vehicle_known_attack",
  "test_03_known_vehicle_unknown_attack", "test_04_unknown_vehicle_unknown_attack" }
-- attack-type codes of the reference (first keyword of the lowercased file and folder name)
local CODES = { { "normal", 0 }, { "attack_free", 0 }, { "benign", 0 }, { "dos", 1 },
  { "fuzzy", 2 }, { "fuzzing", 2 }, { "gear", 3 }, { "rpm", 4 }, { "flooding", 5 },
  { "malfunction", 6 } }

local function code_of(dir, file)
  local s = (file:gsub("%.csv$", "") .. " " .. dir):lower()
  for _, kv in ipairs(CODES) do
    if s:find(kv[1], 1, true) then return kv[2] end
  end
  return 0
end

local function csvs(dir)
  local names = assert(gio.list_dir(gio.join(root, dir)))
  local out = {}
  for _, n in ipairs(names) do
    if n:match("%.csv$") then out[#out + 1] = n end
  end
  table.sort(out)
  return out
end

if not gio.is_dir(root) then
  print("skipped: hcrl_sa is not at " .. root)
  return
end

local splits = {}
for _, d in ipairs(TRAIN) do splits[#splits + 1] = { dir = d, train = true } end
for _, d in ipairs(TESTS) do
  if gio.is_dir(gio.join(root, d)) then splits[#splits + 1] = { dir = d } end -- set_0x lack some
end
local paths, rel, codes, split_of = {}, {}, {}, {}
for si, sp in ipairs(splits) do
  for _, n in ipairs(csvs(sp.dir)) do
    paths[#paths + 1] = gio.join(root, sp.dir, n)
    rel[#rel + 1] = sp.dir .. "/" .. n
    codes[#codes + 1] = code_of(sp.dir, n)
    split_of[#split_of + 1] = si
  end
end

local clock = graphids.clock
local function now()
  return clock()
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

-- wall seconds per stage, and the process CPU seconds of the build (all threads): on a shared,
-- oversubscribed machine the CPU figure is the stable one
local times = { read = {}, vocab = {}, build = {}, scale = {}, total = {}, build_cpu = {} }
local total_frames, last
for _ = 1, runs do
  collectgarbage()
  local t0 = now()
  local frames = data.read_can_many(paths)
  local t1 = now()
  local train_frames = {}
  for i, f in ipairs(frames) do
    if splits[split_of[i]].train then train_frames[#train_frames + 1] = f end
  end
  local vocab = data.Vocabulary.from_frames(train_frames)
  local t2 = now()
  -- the reference layout: one train set over both train folders, one set per test folder
  local groups = { {} }
  for si = 3, #splits do groups[si - 1] = {} end
  for i, f in ipairs(frames) do
    local g = groups[math.max(split_of[i] - 1, 1)]
    g[#g + 1] = i
    g.files = g.files or {}
    g.codes = g.codes or {}
    g.files[#g.files + 1], g.codes[#g.codes + 1] = f, codes[i]
  end
  local sets = {}
  local c0 = os.clock()
  for gi, g in ipairs(groups) do
    sets[gi] = data.build_windows { files = g.files, vocab = vocab, attack_types = g.codes }
  end
  local t3 = now()
  times.build_cpu[#times.build_cpu + 1] = os.clock() - c0
  local train = sets[1]
  local tr = data.split_train_val(train.num_graphs, { val_fraction = 0.2, seed = 42 })
  local scaler = data.Scaler.fit(train, tr)
  for _, s in ipairs(sets) do scaler:apply(s) end
  local t4 = now()
  times.read[#times.read + 1] = t1 - t0
  times.vocab[#times.vocab + 1] = t2 - t1
  times.build[#times.build + 1] = t3 - t2
  times.scale[#times.scale + 1] = t4 - t3
  times.total[#times.total + 1] = t4 - t0
  total_frames = 0
  for _, f in ipairs(frames) do total_frames = total_frames + #f end
  last = { frames = frames, vocab = vocab }
end

for _, k in ipairs { "read", "vocab", "build", "build_cpu", "scale", "total" } do
  print(string.format("windows_%s_s %.4f", k, median(times[k])))
end
local build = median(times.build)
print(string.format("windows_frames %d", total_frames))
print(string.format("windows_build_frames_per_s %.3e", total_frames / build))
print(string.format("windows_build_frames_per_cpu_s %.3e", total_frames / median(times.build_cpu)))
print(string.format("windows_csv_to_graphs_frames_per_s %.3e", total_frames / median(times.total)))

-- the peer: every file in one set (file order as listed), unscaled
local all = data.build_windows { files = last.frames, vocab = last.vocab, attack_types = codes }
local out = os.tmpname()
assert(gio.save_safetensors(out, {
  x = all.x, edge_index = all.edge_index, edge_attr = all.edge_attr, node_id = all.node_id,
  node_ptr = all.node_ptr, edge_ptr = all.edge_ptr, y = all.y, attack_type = all.attack_type,
  window_start = all.window_start, source_file = all.source_file,
}))
local pipe = io.popen("tools/peer-venv.sh 2>/dev/null")
local py = pipe and pipe:read("l")
if pipe then pipe:close() end
if not py or py == "" then
  print("skipped: the polars peer venv is unavailable")
else
  local cmd = string.format("%s bench/peer/windows_peer.py --root %s --vocab-dirs %s --files %s "
    .. "--compare %s", py, root, table.concat(TRAIN, ","), table.concat(rel, ","), out)
  local p = io.popen(cmd)
  local text = p:read("a")
  p:close()
  io.write(text)
  local peer_t = tonumber(text:match("peer_time_s ([%d%.]+)"))
  if peer_t then
    print(string.format("windows_peer_s %.3f  (graphids build %.4f s: %.0fx; CSV to scaled sets "
      .. "%.3f s: %.1fx)", peer_t, build, peer_t / build, median(times.total),
      peer_t / median(times.total)))
  end
end
os.remove(out)
