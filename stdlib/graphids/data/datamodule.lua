-- graphids.data.datamodule -- GraphDataModule: the train/val/test loaders of a cached dataset
-- (merged into graphids.data).
--   local data = require "graphids.data"
--   local dm = data.GraphDataModule{dataset = "hcrl_sa", data_root = "/data/can", batch_size = 32}
--   dm:setup()                                   -- loads (or builds) the cache
--   dm.num_ids, dm.in_channels, dm.edge_dim, dm.num_classes, dm.test_names
--   for batch in dm:train_loader():iter(epoch) do ... end
--   for name, loader in dm:test_loaders() do ... end   -- names in catalog order
--   dm:eval_loader("train" | "val" | test name)        -- unshuffled, unfiltered (predictions)
--
-- Train batches: `batching = "fixed"` (batch_size graphs, reshuffled every epoch) or
-- `"budget"` (first-fit-decreasing packing under node_budget and edge_budget, once; each epoch
-- shuffles the batch order; a graph over a budget is skipped and counted in
-- loader.skipped / dm.skipped).  Shuffling is a function of (seed, epoch), so the resume state
-- {epoch, position} reproduces the order.  `label_filter = "benign"` keeps only y == 0 graphs in
-- the train loader (autoencoders); val and test loaders are never shuffled or filtered and use
-- fixed batches of eval_batch_size (default max(8, batch_size)).
-- The cache options (window_size, stride, val_fraction, seed, vocab_from, node_by_id, scaler,
-- calibration) go to graphids.data.load_cache as they are (docs/data.md); with `cache = c` (a
-- loaded cache) they and the dataset are c's, and one given too must be c's.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local cache = require "graphids.data.cache"
local loader = require "graphids.data.loader"

local GraphDataModule = class("GraphDataModule")

local DEFAULTS = {
  dataset = "synthetic", data_root = U.NONE, lake_root = U.NONE, catalog = U.NONE,
  window_size = 100, stride = 100, val_fraction = 0.2, seed = 42, vocab_from = "all",
  node_by_id = false, scaler = "train", calibration = 1.0,
  batch_size = 32, eval_batch_size = U.NONE, batching = "fixed", node_budget = U.NONE,
  edge_budget = U.NONE, label_filter = U.NONE, shuffle = true, device = U.NONE,
  cache = U.NONE, log = U.NONE,
}

-- For graphids.config.schema: the options (an integral float where the default is an integer
-- is taken as the integer), and those only a Lua caller can give: a configuration is JSON data.
GraphDataModule.DEFAULTS = DEFAULTS
GraphDataModule.LUA_ONLY = { cache = "a loaded dataset cache", log = "a function of one message" }

-- What a cache fixes: its dataset and the parameters of its graphs (docs/data.md, "Invariants").
local CACHE_KEYS = { "dataset", "window_size", "stride", "val_fraction", "seed", "vocab_from", "node_by_id",
  "scaler", "calibration" }

-- With a loaded cache, the module's dataset and graph parameters are the cache's: one the caller
-- gave too must be the cache's own (else a module asked for 60-frame windows, or seed 5's split,
-- would train on the cache's graphs and record the request's values in its state), and those
-- left out are taken from it.  given: the options as the caller wrote them.
local function shown(v)
  return type(v) == "string" and ("'" .. v .. "'") or tostring(v)
end

local function adopt_cache(o, given, level)
  local c = o.cache
  if type(c) ~= "table" or type(c.metadata) ~= "table" or c.train == nil then
    error("GraphDataModule: cache must be a dataset cache (from data.load_cache), got " .. U.describe(c),
      level)
  end
  local have = cache.parameters(c.metadata)
  have.dataset = c.dataset or c.metadata.dataset
  local diffs = {}
  for _, k in ipairs(CACHE_KEYS) do
    if given[k] ~= nil and given[k] ~= have[k] then
      diffs[#diffs + 1] = string.format("%s %s (the cache's is %s)", k, shown(given[k]), shown(have[k]))
    end
    o[k] = have[k]
  end
  if #diffs > 0 then
    error(string.format("GraphDataModule: the cache given (%s) does not hold the graphs asked for: %s; " ..
      "leave these options out, or load the cache they name", tostring(c.dir), table.concat(diffs, ", ")),
      level)
  end
end

function GraphDataModule:__init(opts)
  local o = U.options("GraphDataModule", opts, DEFAULTS, U.CTOR)
  if o.batching ~= "fixed" and o.batching ~= "budget" then
    error("GraphDataModule: batching must be 'fixed' or 'budget', got '" .. tostring(o.batching) .. "'",
      U.CTOR)
  end
  if o.batching == "budget" and (o.node_budget == nil or o.edge_budget == nil) then
    error("GraphDataModule: batching = 'budget' needs node_budget and edge_budget", U.CTOR)
  end
  for _, k in ipairs({ "node_budget", "edge_budget" }) do
    local v = o[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < 1) then
      error(string.format("GraphDataModule: %s must be an integer >= 1, got %s", k, U.describe(v)), U.CTOR)
    end
  end
  if math.type(o.batch_size) ~= "integer" or o.batch_size < 1 then
    error("GraphDataModule: batch_size must be an integer >= 1, got " .. tostring(o.batch_size), U.CTOR)
  end
  if o.eval_batch_size ~= nil and (math.type(o.eval_batch_size) ~= "integer" or o.eval_batch_size < 1) then
    error("GraphDataModule: eval_batch_size must be an integer >= 1, got " .. tostring(o.eval_batch_size),
      U.CTOR)
  end
  -- (the loaders move every batch there: a bad name failed in the first batch, naming no option)
  if o.device ~= nil and not require("graphids.trainer.device").valid(o.device) then
    error("GraphDataModule: device must be 'cpu' or 'cuda[:N]', got " .. U.describe(o.device), U.CTOR)
  end
  if o.cache == nil then
    cache.check_options("GraphDataModule", o, U.CTOR + 1)
  else
    adopt_cache(o, opts, U.CTOR + 1)
  end
  if o.label_filter ~= nil and o.label_filter ~= "benign" then
    error("GraphDataModule: label_filter must be nil or 'benign', got '" .. tostring(o.label_filter) .. "'",
      U.CTOR)
  end
  self.opts = o
  self.dataset = o.dataset
  self.batch_size = o.batch_size
  self.eval_batch_size = o.eval_batch_size or math.max(8, o.batch_size)
  self.in_channels = 35
  self.edge_dim = 11
  self.epoch = 0
  self.position = 0
end

-- Loads the cache (building it when missing).  Idempotent.
function GraphDataModule:setup()
  if self.cache then
    return self
  end
  local o = self.opts
  local c = o.cache or cache.load_cache(o.dataset, {
    data_root = o.data_root, lake_root = o.lake_root, catalog = o.catalog,
    window_size = o.window_size, stride = o.stride, val_fraction = o.val_fraction, seed = o.seed,
    vocab_from = o.vocab_from, node_by_id = o.node_by_id, scaler = o.scaler,
    calibration = o.calibration, log = o.log,
  })
  self.cache = c
  self.num_ids = c.num_ids
  self.test_names = c.test_names
  self.in_channels = c.train.x:size(2)
  self.edge_dim = c.train.edge_attr:size(2)
  local distinct = {}
  local ny = 0
  for _, v in ipairs(c.train.y:index_select(1, c.train_index):totable()) do
    if not distinct[v] then
      distinct[v] = true
      ny = ny + 1
    end
  end
  self.num_classes = math.max(2, ny)
  return self
end

local function check_setup(self, fname)
  if self.cache == nil then
    error("GraphDataModule:" .. fname .. ": call setup() first", 3)
  end
end

-- The graphs of index (an i64 tensor) as a Lua list, optionally only the benign ones.
local function graph_list(set, index, benign_only)
  local ids = index:totable()
  if not benign_only then
    return ids
  end
  local y = set.y:index_select(1, index):totable()
  local out = {}
  for i, g in ipairs(ids) do
    if y[i] == 0 then
      out[#out + 1] = g
    end
  end
  return out
end

local function sizes_of(set, graphs)
  local np, ep = set.node_ptr, set.edge_ptr
  local nodes, edges = {}, {}
  -- Read the whole ptr once: per-graph item() calls would cost a C round trip each.
  local npt, ept = np:totable(), ep:totable()
  for i, g in ipairs(graphs) do
    nodes[i] = npt[g + 2] - npt[g + 1]
    edges[i] = ept[g + 2] - ept[g + 1]
  end
  return nodes, edges
end

function GraphDataModule:train_loader()
  check_setup(self, "train_loader")
  if self._train then
    return self._train
  end
  local o, set = self.opts, self.cache.train
  local graphs = graph_list(set, self.cache.train_index, o.label_filter == "benign")
  local plan, skipped, shuffle
  if o.batching == "budget" then
    local nodes, edges = sizes_of(set, graphs)
    plan, skipped = loader.pack_budget(graphs, nodes, edges, { nodes = o.node_budget, edges = o.edge_budget })
    shuffle = o.shuffle and "batches" or false
    if skipped > 0 and o.log then
      o.log(string.format("warning: %d train graphs exceed the budget (%d nodes, %d edges) and are skipped",
        skipped, o.node_budget, o.edge_budget))
    end
  else
    plan, skipped = loader.fixed_batches(graphs, o.batch_size), 0
    shuffle = o.shuffle and "graphs" or false
  end
  self.skipped = skipped
  self._train = loader.Loader { set = set, plan = plan, shuffle = shuffle, batch_size = o.batch_size,
    seed = o.seed, name = "train", skipped = skipped, device = o.device }
  return self._train
end

local function eval_loader(self, set, graphs, name)
  return loader.Loader { set = set, plan = loader.fixed_batches(graphs, self.eval_batch_size),
    shuffle = false, name = name, device = self.opts.device }
end

function GraphDataModule:val_loader()
  check_setup(self, "val_loader")
  self._val = self._val or eval_loader(self, self.cache.train, self.cache.val_index:totable(), "val")
  return self._val
end

-- The loader of one test set (a name of dm.test_names).
function GraphDataModule:test_loader(name)
  check_setup(self, "test_loader")
  local set = self.cache.tests[name]
  if set == nil then
    error(string.format("GraphDataModule:test_loader: no test set '%s' (test sets: %s)", tostring(name),
      table.concat(self.test_names, ", ")), 2)
  end
  self._tests = self._tests or {}
  if self._tests[name] == nil then
    local all = {}
    for g = 0, set.num_graphs - 1 do
      all[g + 1] = g
    end
    self._tests[name] = eval_loader(self, set, all, name)
  end
  return self._tests[name]
end

-- The unshuffled, unfiltered loader of a split -- "train" (every train graph, benign or not, in
-- stored order), "val", or a test set's name -- as prediction sidecars need.
function GraphDataModule:eval_loader(split)
  check_setup(self, "eval_loader")
  if split == "train" then
    self._train_eval = self._train_eval
      or eval_loader(self, self.cache.train, self.cache.train_index:totable(), "train (eval)")
    return self._train_eval
  elseif split == "val" then
    return self:val_loader()
  end
  return self:test_loader(split)
end

-- Iterator over (name, loader) of every test set, in test_names order.
function GraphDataModule:test_loaders()
  check_setup(self, "test_loaders")
  local i = 0
  return function()
    i = i + 1
    local name = self.test_names[i]
    if name then
      return name, self:test_loader(name)
    end
  end
end

-- Resume state of the train loader: the order of epoch e is a function of (seed, e) and of
-- what cuts the train graphs into batches, so the epoch and the number of batches already
-- consumed in it are enough, beside those settings.
function GraphDataModule:state_dict()
  local o = self.opts
  local c = rawget(self, "cache")
  return { seed = o.seed, epoch = self.epoch, position = self.position, batching = o.batching,
    label_filter = o.label_filter or "none", shuffle = o.shuffle,
    batch_size = o.batching == "fixed" and o.batch_size or nil,
    node_budget = o.batching == "budget" and o.node_budget or nil,
    edge_budget = o.batching == "budget" and o.edge_budget or nil,
    dataset = self.dataset, train_graphs = c and c.train_index and c.train_index:numel() or nil }
end

-- The keys whose values decide the batch order the position counts in.
local ORDER_KEYS = { "seed", "batching", "label_filter", "shuffle", "batch_size", "node_budget",
  "edge_budget", "dataset", "train_graphs" }

-- The position counts batches of one batch order, which the ORDER_KEYS decide: a state saved
-- under other values would resume at the wrong batch (skipping or repeating graphs without a
-- word), so it is refused.
function GraphDataModule:load_state_dict(st)
  local mine = self:state_dict()
  for _, k in ipairs(ORDER_KEYS) do
    -- all but seed are absent from states of older checkpoints, and train_graphs before setup
    if (k == "seed" or (st[k] ~= nil and mine[k] ~= nil)) and st[k] ~= mine[k] then
      error(string.format("GraphDataModule:load_state_dict: state was saved with %s %s, this " ..
        "data module has %s %s", k, tostring(st[k]), k, tostring(mine[k])), 2)
    end
  end
  for _, k in ipairs({ "epoch", "position" }) do
    if math.type(st[k]) ~= "integer" or st[k] < 0 then
      error(string.format("GraphDataModule:load_state_dict: %s must be an integer >= 0, got %s", k,
        tostring(st[k])), 2)
    end
  end
  self.epoch, self.position = st.epoch, st.position
end

-- Iterator over the train batches of the current epoch from the saved position, keeping
-- dm.position up to date (so a checkpoint taken mid-epoch resumes at the next batch);
-- dm:next_epoch() then advances.
GraphDataModule.train_batches = loader.train_batches
GraphDataModule.next_epoch = loader.next_epoch

function GraphDataModule:__tostring()
  return string.format("GraphDataModule(%s, batch_size=%d, batching=%s%s)", self.dataset, self.batch_size,
    self.opts.batching, self.cache and (", " .. #self.test_names .. " test sets") or ", not set up")
end

return { GraphDataModule = GraphDataModule }
