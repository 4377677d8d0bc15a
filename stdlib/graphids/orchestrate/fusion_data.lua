-- graphids.orchestrate.fusion_data -- FusionDataModule: batches of the 15-D fusion states
-- written by graphids.orchestrate.fusion_states.
--   local dm = FusionDataModule{states_dir = dir, batch_size = 128, seed = 42}:setup()
--   for batch in dm:train_batches() do ... end   -- {states [B,15], labels [B], window_start, ...}
-- The data-module interface of the trainer (docs/trainer.md): train_batches / next_epoch /
-- val_loader / test_loaders / eval_loader / state_dict.  Train batches are reshuffled every
-- epoch as a function of (seed, epoch) only, so a resume state is {epoch, position}.  Unlike the
-- reference (whose fusion "test" read the validation states), test_loaders() gives the states
-- of each real test set.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local loader = require "graphids.data.loader"
local fusion_states = require "graphids.orchestrate.fusion_states"

local M = {}

local FusionDataModule = class("FusionDataModule")
M.FusionDataModule = FusionDataModule

-- dataset: the dataset the fusion is of; states extracted from another one's are refused (their
-- manifest names theirs; states from before that record are taken as they are).
local DEFAULTS = { states_dir = "", seed = 42, batch_size = 128, eval_batch_size = U.NONE, dataset = U.NONE }
local FIELDS = { "states", "labels", "window_start", "source_file" }
FusionDataModule.DEFAULTS = DEFAULTS -- (graphids.config.schema reads the integer options)

function FusionDataModule:__init(opts)
  local o = U.options("FusionDataModule", opts, DEFAULTS, U.CTOR)
  if o.states_dir == "" then
    error("FusionDataModule: states_dir is required (the fusion_states stage's output folder)", U.CTOR)
  end
  -- (checked here, when the configuration is validated: met in the first validation, a bad value
  -- failed after the fit had replaced the run dir's previous checkpoints)
  for _, k in ipairs({ "batch_size", "eval_batch_size" }) do
    local v = o[k]
    if (v ~= nil or k == "batch_size") and (math.type(v) ~= "integer" or v < 1) then
      error(string.format("FusionDataModule: %s must be an integer >= 1, got %s", k, U.describe(v)), U.CTOR)
    end
  end
  if math.type(o.seed) ~= "integer" or o.seed < 0 then
    error("FusionDataModule: seed must be an integer >= 0, got " .. U.describe(o.seed), U.CTOR)
  end
  if o.dataset ~= nil and type(o.dataset) ~= "string" then
    error("FusionDataModule: dataset must be a string, got " .. U.describe(o.dataset), U.CTOR)
  end
  self.opts = o
  self.batch_size = o.batch_size
  self.eval_batch_size = o.eval_batch_size or math.max(1024, o.batch_size)
  self.epoch, self.position = 0, 0
end

local INTEGER = { i64 = true, i32 = true }

-- A split's file as fusion_states writes it: states [N, state_dim] (f32 or f64), and labels
-- (0 or 1), window_start and source_file of N rows each (integers), or an error naming the file
-- and the tensor: rows would otherwise be dropped or misread without a word.  f64 states are
-- converted to f32 here, as the reference's normalize did (states.float()): the fusion models'
-- weights are f32, and f64 rows failed in the first forward, after the fit had replaced the run
-- dir's previous checkpoints and predictions.
local function load_split(dir, name, state_dim, want_rows)
  local path = gio.join(dir, name .. ".safetensors")
  local t, err = gio.load_safetensors(path)
  if t == nil then
    error(string.format("FusionDataModule: cannot read %s: %s (run the fusion_states stage first)", path,
      tostring(err)), 0)
  end
  local function bad(f, what)
    error(string.format("FusionDataModule: %s: tensor '%s' %s", path, f, what), 0)
  end
  for _, f in ipairs(FIELDS) do
    if t[f] == nil then
      error(string.format("FusionDataModule: %s has no '%s' tensor", path, f), 0)
    end
  end
  local st = t.states
  if st.ndim ~= 2 or st.shape[2] ~= state_dim or not (st.dtype == "f32" or st.dtype == "f64") then
    bad("states", string.format("must be f32 or f64 [N, %d], got %s %s", state_dim, st.dtype,
      U.shape_str(st)))
  end
  if st.dtype == "f64" then
    t.states = st:float()
  end
  local n = st.shape[1]
  for _, f in ipairs({ "labels", "window_start", "source_file" }) do
    local v = t[f]
    if v.ndim ~= 1 or v.shape[1] ~= n or not INTEGER[v.dtype] then
      bad(f, string.format("must be i64 [%d] (one per state), got %s %s", n, v.dtype, U.shape_str(v)))
    end
  end
  if n > 0 and (t.labels:amin():item() < 0 or t.labels:amax():item() > 1) then
    bad("labels", "must hold 0 (benign) or 1 (attack) only")
  end
  -- the manifest's count: a file of another extraction put in its place has other rows
  if math.type(want_rows) == "integer" and n ~= want_rows then
    bad("states", string.format("has %d rows but the manifest says %d (a file of another extraction?)",
      n, want_rows))
  end
  -- a NaN state would surface only as a loss or metric error naming no file
  if n > 0 and t.states:isfinite():sum():item() ~= t.states:numel() then
    bad("states", "holds a NaN or infinite value (an expert's features overflowed, or f64 values " ..
      "beyond f32's range?)")
  end
  return t
end

function FusionDataModule:setup()
  if self.splits then
    return self
  end
  local dir = self.opts.states_dir
  local mpath = gio.join(dir, "manifest.json")
  local manifest, err = gio.read_json(mpath)
  if manifest == nil then
    error(string.format("FusionDataModule: %s has no fusion states (%s); run the fusion_states stage first",
      dir, tostring(err)), 0)
  end
  local merr = fusion_states.manifest_error(manifest)
  if merr then error(string.format("FusionDataModule: %s: %s", mpath, merr), 0) end
  local want = self.opts.dataset
  if want ~= nil and manifest.dataset ~= nil and manifest.dataset ~= want then
    error(string.format("FusionDataModule: %s holds states of dataset '%s', not '%s' (states_dir names " ..
      "another dataset's fusion_states run dir?)", dir, manifest.dataset, want), 0)
  end
  -- the extraction writes its marker last: without it the files may be a killed run's
  if not gio.exists(gio.join(dir, fusion_states.MARKER)) then
    error(string.format("FusionDataModule: %s holds no %s: its extraction did not finish; run the " ..
      "fusion_states stage again", dir, fusion_states.MARKER), 0)
  end
  local dim = manifest.state_dim or 15
  local rows = type(manifest.rows) == "table" and manifest.rows or {}
  self.splits = { train = load_split(dir, "train", dim, rows.train),
    val = load_split(dir, "val", dim, rows.val) }
  -- (named here: the trainer found it in the first epoch, after the fit had replaced the run
  -- dir's previous checkpoints)
  if self.splits.train.labels:numel() == 0 then
    error(string.format("FusionDataModule: %s: the train split has no row (an extraction from a " ..
      "dataset without training windows?)", gio.join(dir, "train.safetensors")), 0)
  end
  self.test_names = {}
  for i, name in ipairs(manifest.test_names or {}) do
    self.test_names[i] = name
    self.splits[name] = load_split(dir, "test_" .. name, dim, rows[name])
  end
  self.manifest = manifest
  return self
end

-- A loader over rows of a split: iter(epoch, start) yields ({states, labels, window_start,
-- source_file, num_graphs}, i); shuffled per (seed, epoch) when shuffle.
local Rows = class("FusionRows")

function Rows:__init(t, size, shuffle, seed, name)
  self.t, self.size, self.shuffle, self.seed, self.name = t, size, shuffle, seed, name
  self.n = t.labels:numel()
end

function Rows:__len()
  return (self.n + self.size - 1) // self.size
end

function Rows:iter(epoch, start)
  local graphids = require "graphids"
  local order
  if self.shuffle then
    order = graphids.tensor(loader.epoch_permutation(self.n, self.seed, epoch or 0), { dtype = "i64" })
  end
  local i, nb = (start or 1) - 1, #self
  return function()
    i = i + 1
    if i > nb then
      return nil
    end
    local first, len = (i - 1) * self.size, math.min(self.size, self.n - (i - 1) * self.size)
    local b = { num_graphs = len }
    for _, f in ipairs(FIELDS) do
      local col = self.t[f]
      b[f] = order and col:index_select(1, order:narrow(1, first + 1, len)) or col:narrow(1, first + 1, len)
    end
    b.y = b.labels
    return b, i
  end
end

local function check_setup(self, fname)
  if self.splits == nil then
    error("FusionDataModule:" .. fname .. ": call setup() first", 3)
  end
end

function FusionDataModule:train_loader()
  check_setup(self, "train_loader")
  self._train = self._train or Rows(self.splits.train, self.batch_size, true, self.opts.seed, "train")
  return self._train
end

function FusionDataModule:eval_loader(split)
  check_setup(self, "eval_loader")
  local t = self.splits[split]
  if t == nil then
    error(string.format("FusionDataModule: no split '%s' (train, val, %s)", tostring(split),
      table.concat(self.test_names, ", ")), 2)
  end
  return Rows(t, self.eval_batch_size, false, 0, split)
end

function FusionDataModule:val_loader()
  return self:eval_loader("val")
end

function FusionDataModule:test_loaders()
  check_setup(self, "test_loaders")
  local i = 0
  return function()
    i = i + 1
    local name = self.test_names[i]
    if name then
      return name, self:eval_loader(name)
    end
  end
end

-- The resumable epoch walk of graphids.data.loader, as the graph data module has it.
FusionDataModule.train_batches = loader.train_batches
FusionDataModule.next_epoch = loader.next_epoch

function FusionDataModule:state_dict()
  return { seed = self.opts.seed, epoch = self.epoch, position = self.position }
end

function FusionDataModule:load_state_dict(st)
  if st.seed ~= self.opts.seed then
    error(string.format("FusionDataModule:load_state_dict: state was saved with seed %s, this data module " ..
      "has seed %s", tostring(st.seed), tostring(self.opts.seed)), 2)
  end
  self.epoch, self.position = st.epoch, st.position
end

return M
