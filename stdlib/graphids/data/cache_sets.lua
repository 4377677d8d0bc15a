-- graphids.data.cache_sets -- the graph sets of a dataset cache (graphids.data.cache): read
-- a split's captures, build its window graphs, scale them, summarise them for the metadata, and
-- save / load them as safetensors.  The options `o` are the cache's (cache.lua, DEFAULTS).
local graphids = require "graphids"
local gio = require "graphids.io"
local catalog = require "graphids.data.catalog"
local W = require "graphids.data.windows"

local S = {}

-- The tensors of a graph set, in the order they are saved.
S.SET_FIELDS = { "x", "edge_index", "edge_attr", "node_id", "node_ptr", "edge_ptr", "y",
  "attack_type", "window_start", "source_file" }
local SET_FIELDS = S.SET_FIELDS

-- ---------------------------------------------------------------- the window builder
-- What this file needs from graphids.data.windows, with the cache options mapped to its own.

S.MAX_WINDOW = W.MAX_WINDOW

function S.make_vocab(frames_list, o)
  return W.Vocabulary.from_frames(frames_list, { benign_only = o.vocab_from == "benign" })
end

-- A warning is always shown: on the build's log, else on stderr.
local function warn(o, fmt, ...)
  local msg = "warning: " .. string.format(fmt, ...)
  if o.log then
    o.log(msg)
  else
    io.stderr:write(msg, "\n")
  end
end

-- The graphs of a split's captures; a capture that gives none (shorter than a window) is named,
-- since its frames would drop out of the split unseen.
function S.build_set(frames_list, codes, names, vocab, o)
  local set = W.build_windows { files = frames_list, attack_types = codes, vocab = vocab,
    window = o.window_size, stride = o.stride, node_by_id = o.node_by_id }
  local per_file = {}
  for _, f in ipairs(set.source_file:totable()) do
    per_file[f + 1] = (per_file[f + 1] or 0) + 1
  end
  for i, fr in ipairs(frames_list) do
    if per_file[i] == nil then
      warn(o, "capture %s gives no graph with window_size=%d, stride=%d (%d frames: shorter than a " ..
        "window); its frames are left out", names[i], o.window_size,
        o.stride, #fr)
    end
  end
  return set
end

-- (a window size below 3, whose windows have no edge, is refused before any capture is read:
-- cache.window_size_problem)
S.NO_GRAPH_HINT = "(captures shorter than a window?)"

function S.split(num_graphs, o)
  return W.split_train_val(num_graphs, { val_fraction = o.val_fraction, seed = o.seed })
end

function S.fit_scaler(set, train_index)
  return W.Scaler.fit(set, train_index)
end

-- scaler = "per_file": each capture file's graphs z-scored with the statistics of its own first
-- `calibration` share of windows (labels unused), so a vehicle whose periods, payloads and id
-- counts differ from the train vehicles' arrives on the same scale.  scaler.safetensors still
-- holds the train split's statistics, for reference only.  Graphs are in file order, so each file owns one
-- contiguous run of node and edge rows, scaled in place through a view.
local function scale_each_file(set, calibration)
  local g = set.num_graphs
  if g == 0 then
    return
  end
  local sf = set.source_file:totable()
  local np, ep = set.node_ptr:totable(), set.edge_ptr:totable()
  local first = 1
  for i = 1, g do
    if i == g or sf[i + 1] ~= sf[i] then
      local ncal = math.max(1, math.floor((i - first + 1) * calibration))
      local idx = graphids.arange(first - 1, first - 1 + ncal, 1, { dtype = "i64" })
      local sc = W.Scaler.fit(set, idx)
      sc:apply({ x = set.x:narrow(1, np[first] + 1, np[i + 1] - np[first]),
        edge_attr = set.edge_attr:narrow(1, ep[first] + 1, ep[i + 1] - ep[first]) })
      first = i + 1
    end
  end
end

function S.apply_scaling(set, sc, o)
  if o.scaler == "per_file" then
    scale_each_file(set, o.calibration)
  else
    sc:apply(set)
  end
end

-- ---------------------------------------------------------------- statistics

-- Linear interpolation between closest ranks (numpy's default percentile).
local function percentile(sorted, q)
  local n = #sorted
  if n == 0 then
    return 0
  end
  local pos = (n - 1) * q + 1
  local lo = math.floor(pos)
  local hi = math.min(lo + 1, n)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
end

local function summary(counts)
  table.sort(counts)
  local n, sum = #counts, 0
  for _, c in ipairs(counts) do
    sum = sum + c
  end
  return {
    min = counts[1] or 0, max = counts[n] or 0, mean = n > 0 and sum / n or 0.0,
    p95 = percentile(counts, 0.95) + 0.0, p99 = percentile(counts, 0.99) + 0.0,
  }
end

-- Per-graph sizes from a ptr tensor, for the graphs of index (i64 tensor) or all.
local function sizes(ptr, index)
  local g = ptr:size(1) - 1
  if g <= 0 then
    return {}
  end
  local d = ptr:narrow(1, 2, g):sub(ptr:narrow(1, 1, g))
  if index then
    d = d:index_select(1, index)
  end
  return d:totable()
end

-- Statistics of a set's graphs (all, or those of index).
function S.split_stats(set, index)
  local y, at = set.y, set.attack_type
  if index then
    y, at = y:index_select(1, index), at:index_select(1, index)
  end
  local yt, att = y:totable(), at:totable()
  local balance = {}
  for i = 1, #yt do
    local key
    if yt[i] == 0 then
      key = "normal"
    else
      key = catalog.ATTACK_TYPES[att[i]] or ("attack_type_" .. att[i])
      if att[i] == 0 then
        key = "attack_unknown_type"
      end
    end
    balance[key] = (balance[key] or 0) + 1
  end
  return {
    num_graphs = #yt,
    graph_stats = { node_count = summary(sizes(set.node_ptr, index)),
      edge_count = summary(sizes(set.edge_ptr, index)) },
    attack_balance = balance,
  }
end

-- ---------------------------------------------------------------- files

function S.save_set(path, set, extra, meta)
  local tensors = {}
  for _, f in ipairs(SET_FIELDS) do
    tensors[f] = assert(set[f], "graph set lacks field " .. f)
  end
  for k, v in pairs(extra or {}) do
    tensors[k] = v
  end
  meta = meta or {}
  meta.format = "graphids-graph-set"
  meta.num_graphs = tostring(set.num_graphs)
  assert(gio.save_safetensors(path, tensors, meta))
  return gio.stat(path).size
end

-- A graph set from a cache file, memory-mapped: its header read, no graph data (the values are
-- graphids.data.cache_check's); nil, message on a missing or corrupt file.  name: the file in
-- messages (path by default).
function S.load_set(path, name)
  name = name or path
  local t, meta = gio.load_safetensors(path, { mmap = true })
  if t == nil then
    -- "EFORMAT: safetensors: '<path>': header length ..." -> "<name>: header length ..."
    local msg = tostring(meta):gsub("^%u+: ", ""):gsub("^safetensors: ", "")
    local at, stop = msg:find("'" .. path .. "'", 1, true)
    return nil, at and (msg:sub(1, at - 1) .. name .. msg:sub(stop + 1)) or (name .. ": " .. msg)
  end
  -- (source_files: the JSON list of the captures the file was built from, as save_set wrote it)
  local set = { num_graphs = math.tointeger(tonumber(meta.num_graphs)), source_files = meta.source_files }
  for _, f in ipairs(SET_FIELDS) do
    if t[f] == nil then
      return nil, name .. ": no tensor '" .. f .. "'"
    end
    set[f] = t[f]
    t[f] = nil
  end
  if set.num_graphs == nil or set.node_ptr.ndim ~= 1 or set.node_ptr:size(1) ~= set.num_graphs + 1 then
    return nil, name .. ": num_graphs metadata does not match node_ptr"
  end
  for _, ix_name in ipairs({ "train_index", "val_index" }) do
    local ix = t[ix_name]
    if ix ~= nil and (ix.dtype ~= "i64" or ix.ndim ~= 1) then
      return nil, string.format("%s: %s must be a 1-D i64 tensor of graph indices in [0, %d)", name, ix_name,
        set.num_graphs)
    end
  end
  return set, t
end

-- Frees a written set at once and hands the allocator's cached blocks back: the next split's
-- tensors have other sizes, so kept blocks would only add to the peak (a full hcrl_sa build
-- peaked at 185 MB RSS with them, 2.9x its CSV bytes).
function S.free_set(set)
  for _, f in ipairs(SET_FIELDS) do
    if set[f] then
      set[f]:free()
    end
  end
  graphids.empty_cache()
end

function S.free_frames(list)
  for _, f in ipairs(list) do
    f:free()
  end
end

-- Why the capture at path, of attack type code, whose read report says it carries no labels,
-- cannot be taken as n frames of normal traffic.
local function unlabeled_problem(path, code, report, n)
  local format = report.format .. (report.format == "columns" and " without a label column" or "")
  local what, other = string.format("carries no labels (format %s) and neither its name nor its folders' " ..
    "say it is normal traffic (attack-free, normal, benign)", format),
    ", or, when it holds no attack, name it or its folder so (normal-..., ..._attack_free)"
  if code ~= 0 then
    what, other = string.format("is named as a %s capture but carries no labels (format %s)",
      catalog.ATTACK_TYPES[code] or tostring(code), format), ""
  end
  return string.format("capture file %s %s, so all %d frames would count as normal traffic; label it " ..
    "first, e.g. graphids data convert %s OUT.csv --attack-id ID (docs/data-formats.md, \"Labels for " ..
    "unlabeled logs\")%s", path, what, n, path, other)
end

function S.read_split(files)
  local data_can = require "graphids.data.can"
  local paths, codes, names = {}, {}, {}
  for i, f in ipairs(files) do
    paths[i], codes[i], names[i] = f.path, f.attack_type, f.name
  end
  local frames, reports = data_can.read_can_many(paths)
  local rows = 0
  for i, fr in ipairs(frames) do
    if #fr == 0 then
      S.free_frames(frames)
      error(string.format("capture file %s holds no frames", paths[i]), 0)
    end
    -- A capture without labels (candump, hcrl-txt, a columns CSV without a label column) would
    -- train and score as all normal traffic: it is taken only when its name or a folder's says
    -- it is (train_01_attack_free/x.log, normal-drive.log), never by default (an unnamed
    -- fuzz_1ms.log in train_02_with_attacks, a capture.log in a test folder).  (A labelled
    -- capture may hold no attack frame: the first rows of an attack capture.)
    if not reports[i].has_labels and not catalog.named_normal(names[i]) then
      local msg = unlabeled_problem(paths[i], codes[i], reports[i], #fr)
      S.free_frames(frames)
      error(msg, 0)
    end
    rows = rows + #fr
  end
  return frames, codes, names, rows
end

return S
