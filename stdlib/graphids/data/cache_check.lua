-- graphids.data.cache_check -- what a load of a dataset cache (graphids.data.cache) refuses, in
-- two steps:
--   open_files(dir, meta): the files against the metadata, reading no graph data: vocab.json
--     (its digest recomputed from its entries), every split's file present, of the size
--     recorded, its safetensors header read (memory-mapped) with every tensor the set needs, its
--     graph and index counts and its captures those the metadata records.  Cheap, so load,
--     build and inspect all run it: what inspect calls sound, a load takes.
--   check_values(set, ...): the values inside, one pass at load: the layout (every edge inside
--     its graph), labels, node ids, attack types and capture numbers in range, the split indices
--     in range with no graph twice, and no NaN or inf in the features.
-- Problems are messages without the cache folder or the fix: the caller adds them.
local graphids = require "graphids"
local gio = require "graphids.io"
local json = require "graphids.json"
local catalog = require "graphids.data.catalog"
local W = require "graphids.data.windows"
local S = require "graphids.data.cache_sets"

local C = {}

local EDITED = " (cache_metadata.json edited by hand?)"

-- The vocabulary of vocab.json against the metadata: the Vocabulary, or nil, problem.
local function read_vocab(dir, meta)
  local path = gio.join(dir, "vocab.json")
  if not gio.exists(path) then return nil, "vocab.json is missing" end
  local vdoc, verr = json.read_file(path)
  if vdoc == nil then return nil, "vocab.json: " .. tostring(verr) end
  -- the digest recomputed from the entries: a vocab.json edited or swapped is caught here
  local ok, vocab = pcall(W.Vocabulary.from_entries, vdoc.entries, meta.vocab_digest)
  if not ok then return nil, "vocab.json: " .. tostring(vocab) end
  local same_ids = type(vdoc.ids) == "table" and #vdoc.ids == #vocab.ids
  for i = 1, same_ids and #vocab.ids or 0 do
    same_ids = same_ids and vdoc.ids[i] == vocab.ids[i]
  end
  if vdoc.digest ~= meta.vocab_digest or vdoc.num_ids ~= vocab.num_ids or not same_ids then
    return nil, "vocab.json's digest, num_ids or ids disagree with its entries (edited by hand?)"
  end
  if meta.num_ids ~= vocab.num_ids then
    -- num_ids sizes the models' id embeddings: it must be the vocabulary's
    return nil, string.format("num_ids is %d but vocab.json holds %d ids%s", meta.num_ids, vocab.num_ids,
      EDITED)
  end
  return vocab
end

-- The build names every file, so a name other than its own is a swap; every split the metadata
-- lists is one the loader hands out.  Problems appended to out.
local function check_record(meta, out)
  local function expect_file(name, want)
    if meta.splits[name].file ~= want then
      out[#out + 1] = string.format("splits.%s.file is '%s', the build writes '%s'%s", name,
        meta.splits[name].file, want, EDITED)
    end
  end
  expect_file("train", "train.safetensors")
  local listed = {}
  for _, name in ipairs(meta.test_sets) do
    listed[name] = true
    expect_file(name, "test_" .. name .. ".safetensors")
  end
  local names = {}
  for name in pairs(meta.splits) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    if name ~= "train" and name ~= "val" and not listed[name] then
      out[#out + 1] = string.format("splits holds '%s', which test_sets does not list%s", name, EDITED)
    end
  end
end

-- The captures a set's file records against those of its split in the metadata: a file is its
-- split's only if it was built from them (two test files of one graph count swapped would
-- otherwise serve one set's graphs as the other's).  nil, or the problem.
local function check_sources(meta, name, set)
  local want = meta.splits[name].source_files
  if type(want) ~= "table" or set.source_files == nil then return nil end
  local okj, got = pcall(json.decode, set.source_files)
  local same = okj and type(got) == "table" and #got == #want
  for i = 1, same and #want or 0 do same = same and got[i] == want[i] end
  if not same then
    return string.format("%s was built from %s, not from the captures splits.%s.source_files names%s",
      meta.splits[name].file, tostring(set.source_files), name, EDITED)
  end
end

local function count_problem(meta, name, n)
  if meta.splits[name].num_graphs ~= n then
    return string.format("splits.%s.num_graphs is %d but its file holds %d%s", name,
      meta.splits[name].num_graphs, n, EDITED)
  end
end

-- The file of split `name` opened and checked against the metadata: set, extra tensors, or nil,
-- problem.
local function open_split(dir, meta, name)
  local sp = meta.splits[name]
  local st = gio.stat(gio.join(dir, sp.file))
  if not st then return nil, sp.file .. " is missing" end
  local size = sp.bytes_on_disk and st.size ~= sp.bytes_on_disk and
    string.format("%s is %d bytes, the metadata says %d", sp.file, st.size, sp.bytes_on_disk) or nil
  local set, extra = S.load_set(gio.join(dir, sp.file), sp.file)
  -- (a file cut short says so by its size better than by the header it no longer holds whole)
  if set == nil then return nil, size or extra end
  local p = check_sources(meta, name, set)
  if name == "train" then
    if p == nil and (extra.train_index == nil or extra.val_index == nil) then
      p = sp.file .. " has no train_index or val_index"
    end
    p = p or count_problem(meta, "train", extra.train_index:numel()) or
      count_problem(meta, "val", extra.val_index:numel())
  else
    p = p or count_problem(meta, name, set.num_graphs)
  end
  p = p or size
  if p then
    C.close({ train = set, extra = extra })
    return nil, p
  end
  return set, extra
end

-- Opens a cache's files (memory-mapped; no graph data read) and checks them against its
-- metadata.  Returns {vocab, train, extra (train_index, val_index), tests = {[name] = set}}
-- with what opened, and the list of problems (empty when a load would take the files).
function C.open_files(dir, meta)
  local problems, opened = {}, { tests = {} }
  local vocab, vp = read_vocab(dir, meta)
  opened.vocab = vocab
  problems[#problems + 1] = vp
  if not gio.exists(gio.join(dir, "scaler.safetensors")) then
    problems[#problems + 1] = "scaler.safetensors is missing"
  end
  check_record(meta, problems)
  local p
  opened.train, p = open_split(dir, meta, "train")
  if opened.train then opened.extra = p else problems[#problems + 1] = p end
  for _, name in ipairs(meta.test_sets) do
    opened.tests[name], p = open_split(dir, meta, name)
    problems[#problems + 1] = not opened.tests[name] and p or nil
  end
  return opened, problems
end

-- Releases the mappings of what open_files opened.
function C.close(opened)
  local sets = { opened.train, opened.extra }
  for _, s in pairs(opened.tests or {}) do sets[#sets + 1] = s end
  for _, s in ipairs(sets) do
    for _, t in pairs(s) do
      if graphids.is_tensor(t) then t:free() end
    end
  end
end

-- ---------------------------------------------------------------- values

-- The graph number of node row r (0-based): graphs own ascending runs of rows.
local function graph_of(ptr, r)
  return ptr:le(r):sum():item() - 1
end

-- NaN or inf in a feature tensor: a problem naming the count and the first graph, or nil.
local function nonfinite(file, name, t, ptr)
  local n = math.tointeger(graphids.count_nonfinite({ t }):item())
  if n == 0 then return nil end
  local row = t:isfinite():logical_not():any(2):long():argmax():item()
  return string.format("%s: %s holds %d non-finite value%s (NaN or inf), the first in graph %d", file,
    name, n, n == 1 and "" or "s", graph_of(ptr, row))
end

-- train_index and val_index: graph numbers in range, none twice, none in both.
local function check_split(file, set, extra)
  local g = set.num_graphs
  local counts = {}
  for _, name in ipairs({ "train_index", "val_index" }) do
    local ix = extra[name]
    if ix:numel() > 0 and (ix:min():item() < 0 or ix:max():item() >= g) then
      return string.format("%s: %s must be a 1-D i64 tensor of graph indices in [0, %d)", file, name, g)
    end
    counts[name] = graphids.bincount(ix, { minlength = g })
    if ix:numel() > 0 and counts[name]:max():item() > 1 then
      return string.format("%s: %s holds graph %d more than once", file, name,
        counts[name]:argmax():item())
    end
  end
  local both = counts.train_index:mul(counts.val_index)
  if g > 0 and both:max():item() > 0 then
    return string.format("%s: graph %d is in both train_index and val_index", file, both:argmax():item())
  end
end

-- The values of a set loaded by open_files: nil, or the first problem.  file names it in
-- messages; num_ids is the vocabulary's size; extra: the train file's split indices, if any.
function C.check_values(set, file, num_ids, extra)
  -- the whole layout (dtypes, shapes, pointers, every edge inside its graph): a damaged file is
  -- named here, not at the batch that happens to pick a bad graph
  local ok, err = pcall(graphids.graph_set_validate, set)
  if not ok then
    return file .. ": " .. tostring(err):gsub("^.-graph_set_validate: ", "")
  end
  local p = extra and check_split(file, set, extra)
  if p then return p end
  -- values the models index with, and a graph's capture and attack type (the metrics and the
  -- prediction files name them by these): named here, with the file, not as an out-of-bounds
  -- error inside a loss or an embedding
  local okj, sources = pcall(json.decode, set.source_files or "null")
  local nsources = okj and type(sources) == "table" and #sources or nil
  for _, c in ipairs({ { "y", 1 }, { "node_id", num_ids - 1 }, { "attack_type", #catalog.ATTACK_TYPES },
    { "source_file", nsources and nsources - 1 } }) do
    local t = set[c[1]]
    if c[2] and t:numel() > 0 and (t:min():item() < 0 or t:max():item() > c[2]) then
      return string.format("%s: %s holds values outside [0, %d] (%d..%d)", file, c[1], c[2], t:min():item(),
        t:max():item())
    end
  end
  return nonfinite(file, "x", set.x, set.node_ptr) or
    nonfinite(file, "edge_attr", set.edge_attr, set.edge_ptr)
end

return C
