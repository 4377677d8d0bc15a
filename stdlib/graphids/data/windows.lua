-- graphids.data.windows -- window graphs from CAN frames, the id vocabulary, the seeded
-- train/val split and the z-score scaler (definitions in docs/windows.md).  Its exports are
-- merged into graphids.data.
--
--   local data = require "graphids.data"
--   local vocab = data.Vocabulary.from_frames(train_frames)   -- sorted ids, index 1.., 0 = UNK
--   local set = data.build_windows{files = train_frames, vocab = vocab, window = 100,
--                                  stride = 100, attack_types = {0, 0, 1, 2}}
--   local train_idx, val_idx = data.split_train_val(set.num_graphs, {val_fraction = 0.2, seed = 42})
--   local scaler = data.Scaler.fit(set, train_idx)            -- train graphs only
--   scaler:apply(set)                                          -- in place; reuse for val and tests
--
-- API
--   build_windows{files=, vocab=, window=100, stride=100, attack_types=nil, aligned_edges=false,
--                 node_by_id=false}
--       files: list of CanFrames (one per capture file); vocab: a Vocabulary; attack_types: one
--       code per file (given to the file's windows whose y is 1).  Returns a graph set: a table
--       with x [N,35] f32, edge_index [2,E] i64 (local), edge_attr [E,11] f32, node_id [N] i64,
--       node_ptr/edge_ptr [G+1] i64, y/attack_type/window_start/source_file [G] i64, num_graphs.
--       Graphs are in file order then window order (source_file is the 0-based file position).
--   Vocabulary.from_frames(list) / Vocabulary.from_ids(texts) / Vocabulary.from_entries(entries
--       [, digest]): fields ids (canonical texts in index order), num_ids (#ids + 1, UNK
--       included), digest (SHA-256 hex of canonical_json()); methods index(text) (0 when
--       absent), to_entries() ({[text] = index}, the reference's vocab.json "entries"),
--       canonical_json().
--   split_train_val(num_graphs, {val_fraction=0.2, seed=42}) -> train_idx, val_idx (i64,
--       0-based, ascending).
--   Scaler.fit(set, train_idx, {min_std=1e-6}) / Scaler.from_table{x_mean=, x_std=, edge_mean=,
--       edge_std=}: methods apply(set) (in place; returns set), to_table().
local graphids = require "graphids"
local class = require "graphids.class"
local U = require "graphids.nn._util" -- option tables (shared with nn: did-you-mean, types)

local core = require "graphids.core"

local M = {}

-- ------------------------------------------------------------------ vocabulary

local Vocabulary = class.class("Vocabulary")
M.Vocabulary = Vocabulary

-- Canonical text of an id given as text: 3 or 8 hex digits, uppercase.  Errors point at the
-- caller of the Vocabulary constructor that called this (level 3).
local function canonical(text, where)
  if type(text) ~= "string" then
    error(where .. ": id must be a string, got " .. type(text), 3)
  end
  local up = text:upper()
  if not (up:match("^%x%x%x$") or up:match("^%x%x%x%x%x%x%x%x$")) then
    error(where .. ": id '" .. text .. "' must be 3 hex digits (11-bit) or 8 (29-bit)", 3)
  end
  local v = tonumber(up, 16)
  if (#up == 3 and v > 0x7FF) or (#up == 8 and v > 0x1FFFFFFF) then
    error(where .. ": id '" .. text .. "' is out of range (at most 7FF or 1FFFFFFF)", 3)
  end
  return up
end

function Vocabulary:__init(ids)
  self.ids = ids
  self.lookup = {}
  for i, t in ipairs(ids) do
    self.lookup[t] = i
  end
  self.num_ids = #ids + 1
  self.unk_index = 0
  self.digest = graphids.sha256(self:canonical_json())
end

-- The distinct ids of the frames (a list of CanFrames), sorted by canonical text.  opts.benign_only
-- = true counts only the frames labelled 0 (the ids of normal traffic).
function Vocabulary.from_frames(list, opts)
  opts = U.options("Vocabulary.from_frames", opts, { benign_only = false })
  -- (the runtime's checks of the list, raised as this function's at the caller's line)
  local ids = core._call_as("Vocabulary.from_frames", { files = "list" }, core.can_vocab_ids, list,
    opts.benign_only)
  return Vocabulary(ids)
end

-- Ids (texts) in index order: ids[k] gets index k.
function Vocabulary.from_ids(texts)
  if type(texts) ~= "table" then
    error("Vocabulary.from_ids: expected a list of id texts, got " .. type(texts), 2)
  end
  local ids, seen = {}, {}
  for i, t in ipairs(texts) do
    local c = canonical(t, "Vocabulary.from_ids: entry " .. i)
    if seen[c] then
      error("Vocabulary.from_ids: id " .. c .. " appears at entries " .. seen[c] .. " and " .. i, 2)
    end
    seen[c] = i
    ids[i] = c
  end
  return Vocabulary(ids)
end

-- From the reference's vocab.json "entries" ({[text] = index}, indices exactly 1..n); with a
-- digest, raises unless it matches.
function Vocabulary.from_entries(entries, digest)
  if type(entries) ~= "table" then
    error("Vocabulary.from_entries: expected a table {[id] = index}, got " .. type(entries), 2)
  end
  local keys = {}
  for k in pairs(entries) do
    keys[#keys + 1] = k
  end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local ids, seen = {}, {}
  for _, k in ipairs(keys) do
    local c = canonical(k, "Vocabulary.from_entries")
    -- "0a0" and "0A0" are one id: two entries for it would make two indices of one id
    if seen[c] then
      error("Vocabulary.from_entries: ids '" .. seen[c] .. "' and '" .. k .. "' are the same id "
        .. c, 2)
    end
    seen[c] = k
    local idx = entries[k]
    if math.type(idx) ~= "integer" or idx < 1 or idx > #keys then
      error("Vocabulary.from_entries: index of " .. k .. " must be an integer in 1.." .. #keys
        .. ", got " .. tostring(idx), 2)
    end
    if ids[idx] then
      error("Vocabulary.from_entries: index " .. idx .. " is given to " .. ids[idx] .. " and "
        .. c, 2)
    end
    ids[idx] = c
  end
  local v = Vocabulary(ids)
  if digest ~= nil and digest ~= v.digest then
    error("Vocabulary.from_entries: digest " .. tostring(digest) .. " does not match the entries ("
      .. v.digest .. ")", 2)
  end
  return v
end

-- Index of an id text (any case), 0 (UNK) when absent.
function Vocabulary:index(text)
  return self.lookup[tostring(text):upper()] or 0
end

function Vocabulary:to_entries()
  local e = {}
  for i, t in ipairs(self.ids) do
    e[t] = i
  end
  return e
end

-- The bytes the digest hashes: Python's json.dumps of the (id, index) pairs sorted by index,
-- as the reference writes them: [["0A0", 1], ["0C1", 2]] (ids are hex digits: no escaping).
function Vocabulary:canonical_json()
  local parts = {}
  for i, t in ipairs(self.ids) do
    parts[i] = '["' .. t .. '", ' .. i .. "]"
  end
  return "[" .. table.concat(parts, ", ") .. "]"
end

function Vocabulary:__tostring()
  return string.format("Vocabulary(%d ids + UNK, digest %s)", #self.ids, self.digest:sub(1, 12))
end

-- ------------------------------------------------------------------ window graphs

-- The largest window build_windows takes: runtime/src/data/windows.c's MAX_WINDOW (its moment
-- sums stay exact up to it), named here so callers can refuse a size before reading any data.
M.MAX_WINDOW = 1 << 20

function M.build_windows(opts)
  opts = U.options("build_windows", opts, { files = U.NONE, vocab = U.NONE, window = 100,
    stride = 100, attack_types = U.NONE, aligned_edges = false, node_by_id = false })
  if type(opts.files) ~= "table" then
    error("build_windows: option files must be a list of CanFrames, got " .. type(opts.files), 2)
  end
  if not class.isinstance(opts.vocab, Vocabulary) then
    error("build_windows: option vocab must be a graphids.data.Vocabulary", 2)
  end
  -- the runtime checks the rest (a files element, window, stride, attack_types): raised as this
  -- function's at the caller's line, not at this one
  local set = core._call_as("build_windows", nil, core.build_windows, opts.files, {
    vocab = opts.vocab.ids,
    window = opts.window,
    stride = opts.stride,
    attack_types = opts.attack_types,
    aligned_edges = opts.aligned_edges,
    node_by_id = opts.node_by_id,
  })
  return set
end

-- ------------------------------------------------------------------ split

function M.split_train_val(num_graphs, opts)
  opts = U.options("split_train_val", opts, { val_fraction = 0.2, seed = 42 })
  if math.type(num_graphs) ~= "integer" or num_graphs < 0 then
    error("split_train_val: num_graphs must be an integer >= 0, got " .. tostring(num_graphs), 2)
  end
  local frac = opts.val_fraction
  if frac < 0 or frac > 1 then
    error("split_train_val: val_fraction must be in [0, 1], got " .. tostring(frac), 2)
  end
  local seed = opts.seed
  if math.type(seed) ~= "integer" then
    error("split_train_val: seed must be an integer, got " .. tostring(seed), 2)
  end
  local perm = graphids.randperm(num_graphs, { generator = graphids.Generator(seed) })
  local n_val = math.floor(num_graphs * frac)
  local val = perm:narrow(1, 1, n_val):sort()
  local train = perm:narrow(1, n_val + 1, num_graphs - n_val):sort()
  return train:contiguous(), val:contiguous()
end

-- ------------------------------------------------------------------ scaler

local Scaler = class.class("Scaler")
M.Scaler = Scaler

local SCALER_KEYS = { "x_mean", "x_std", "edge_mean", "edge_std" }

function Scaler:__init(t)
  for _, k in ipairs(SCALER_KEYS) do
    self[k] = t[k]
  end
end

local function as_index(idx, fname)
  if type(idx) == "table" then
    idx = graphids.tensor(idx, { dtype = "i64" })
  end
  if not graphids.is_tensor(idx) or idx.dtype ~= "i64" or idx:dim() ~= 1 then
    error(fname .. ": graph indices must be a 1-D i64 tensor or a Lua array", 3)
  end
  return idx:contiguous()
end

-- Mean and unbiased std (floored at min_std) per column of x and edge_attr over the graphs of
-- train_idx (0-based), accumulated in f64.
function Scaler.fit(set, train_idx, opts)
  opts = U.options("Scaler.fit", opts, { min_std = 1e-6 })
  local min_std = opts.min_std
  local idx = as_index(train_idx, "Scaler.fit")
  local xm, xs = core.scaler_fit(set.x, set.node_ptr, idx, min_std)
  local em, es = core.scaler_fit(set.edge_attr, set.edge_ptr, idx, min_std)
  return Scaler { x_mean = xm, x_std = xs, edge_mean = em, edge_std = es }
end

function Scaler.from_table(t)
  if type(t) ~= "table" then
    error("Scaler.from_table: expected a table of tensors, got " .. type(t), 2)
  end
  for _, k in ipairs(SCALER_KEYS) do
    if t[k] == nil then
      error("Scaler.from_table: missing " .. k, 2)
    end
  end
  return Scaler(t)
end

function Scaler:to_table()
  local t = {}
  for _, k in ipairs(SCALER_KEYS) do
    t[k] = self[k]
  end
  return t
end

-- z-scores set.x and set.edge_attr in place ((v - mean) / std in f32, as the reference).
function Scaler:apply(set)
  if set.x.shape[2] ~= self.x_mean.shape[1] or set.edge_attr.shape[2] ~= self.edge_mean.shape[1] then
    error(string.format("Scaler:apply: the set has %d node and %d edge columns, the scaler %d and %d",
      set.x.shape[2], set.edge_attr.shape[2], self.x_mean.shape[1], self.edge_mean.shape[1]), 2)
  end
  core.scaler_apply_(set.x, self.x_mean, self.x_std)
  core.scaler_apply_(set.edge_attr, self.edge_mean, self.edge_std)
  return set
end

return M
