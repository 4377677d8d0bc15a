-- graphids.callbacks.ModelCheckpoint -- keeps the best checkpoints (strict improvement of a
-- monitored metric; the k best with save_top_k) and the last one.
--   local cb = require "graphids.callbacks"
--   cb.ModelCheckpoint{monitor = "val_loss", mode = "min"}   -- <root>/checkpoints/best_model.safetensors
--   cb.ModelCheckpoint{filename = "{epoch:02d}-{val_loss:.3f}", save_top_k = 3}  -- Lightning's
-- Options: monitor ("val_loss"), mode ("min" | "max"), dirpath (default
-- <trainer.default_root_dir>/checkpoints; with neither nothing is written but the best score is
-- still tracked), filename ("best_model", or a Lightning template: callbacks/checkpoint_name.lua),
-- auto_insert_metric_name (true), save_top_k (1; -1 keeps every judged epoch's file, 0 none),
-- every_n_epochs (1: the epochs judged are those with (epoch + 1) % n == 0; 0 judges none),
-- save_last (true: last.safetensors every epoch), overwrite (false: a fresh fit refuses a folder
-- that holds an earlier fit's files; the stage verbs pass true, their commit removes the stale
-- files first).
-- The default (a plain filename, save_top_k = 1) keeps one best file under that name, written
-- over in place, and never removes a file: the layout the stage verbs rely on.  With a template
-- or another save_top_k the kept files are Lightning's best_k_models, and one that drops out of
-- the k best is removed.
-- Commit order of an epoch: every checkpoint callback judges it first (the trainer asks them all
-- before any writes, so each file holds every callback's state of this epoch); then each writes
-- its new kept file, then `last`, the commit point of the epoch; only after every callback's
-- `last` is written are the files that dropped out removed (remove_dropped, which the trainer
-- calls).  So a run killed anywhere in epoch k resumes from the `last` of epoch k-1, whose state
-- lists its kept files, all still on disk, replays the epoch and writes the same files; killed
-- after the commit and before a removal, the resumed `last` lists the file under to_remove and
-- the resume removes it.  (That is one callback's folder: with several, a kill between the first
-- callback's `last` and a later one's resumes from an epoch the later folder does not fully
-- hold; on_fit_start refuses or warns then, docs/trainer.md "Exact resume".)  The trainer
-- runs ModelCheckpoint after the other callbacks, so the state they saved (early-stopping
-- counter, stop flag) is this epoch's.
-- While a fit runs it holds an exclusive lock on <dirpath>/.lock: a second run into the same
-- directory fails at its start instead of interleaving checkpoints.  An epoch without validation
-- (the trainer's check_val_every_n_epoch) is not judged; with fast_dev_run nothing is written or
-- locked.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local Callback = require "graphids.callbacks.base"
local BestK = require "graphids.callbacks.best_k"
local names = require "graphids.callbacks.checkpoint_name"
local state = require "graphids.callbacks.checkpoint_state"

local ModelCheckpoint = class("ModelCheckpoint", Callback)

local DEFAULTS = { monitor = "val_loss", mode = "min", dirpath = U.NONE, filename = "best_model",
  save_last = true, overwrite = false, save_top_k = 1, every_n_epochs = 1, auto_insert_metric_name = true }

local EXT = ".safetensors"

local function check_count(name, v, least)
  if math.type(v) ~= "integer" or v < least then
    error(string.format("ModelCheckpoint: %s must be an integer >= %d, got %s", name, least, U.describe(v)),
      U.CTOR + 1)
  end
end

function ModelCheckpoint:__init(opts)
  local o = U.options("ModelCheckpoint", opts, DEFAULTS, U.CTOR)
  Callback.check_mode("ModelCheckpoint", o.mode)
  if type(o.filename) ~= "string" or o.filename == "" or o.filename == "last" then
    error("ModelCheckpoint: filename must be a file name other than 'last' (the last checkpoint's), got " ..
      tostring(o.filename), U.CTOR)
  end
  check_count("save_top_k", o.save_top_k, -1)
  check_count("every_n_epochs", o.every_n_epochs, 0)
  local ok, tpl = pcall(names.parse, o.filename, o.auto_insert_metric_name)
  if not ok then error("ModelCheckpoint: " .. tpl, U.CTOR) end
  -- (a '/' in a field's name is the template's concern; the rest of the name is a file's)
  local literal = tpl and o.filename:gsub("%b{}", "") or o.filename
  if literal:find("/", 1, true) then
    error("ModelCheckpoint: filename must name a file in dirpath, without '/', got " .. o.filename, U.CTOR)
  end
  if o.dirpath ~= nil and type(o.dirpath) ~= "string" then
    error("ModelCheckpoint: dirpath must be a string, got " .. type(o.dirpath), U.CTOR)
  end
  self.monitor, self.mode, self.dirpath = o.monitor, o.mode, o.dirpath
  self.filename, self.save_last, self.overwrite = o.filename, o.save_last, o.overwrite
  self.save_top_k, self.every_n_epochs = o.save_top_k, o.every_n_epochs
  self.auto_insert_metric_name = o.auto_insert_metric_name
  self.template = tpl
  -- Lightning's best_k_models; the default layout (one file, its name fixed) is the case k = 1
  self.topk = tpl ~= nil or o.save_top_k ~= 1
  self.kept = BestK(o.mode, o.save_top_k)
  self.to_remove = {} -- kept files that dropped out, removed once the epoch is committed
  -- (every_n_epochs is in Lightning's key too, so two callbacks may differ by it alone; the
  -- default's key stays the one older checkpoints hold)
  self.state_key = string.format("ModelCheckpoint{monitor=%s,mode=%s%s}", o.monitor, o.mode,
    o.every_n_epochs ~= 1 and ",every_n_epochs=" .. o.every_n_epochs or "")
  self.best_score, self.best_epoch = nil, nil
  self.is_checkpoint = true
end

-- best_score and best_epoch follow the best kept file.
local function sync(self)
  local b = self.kept:best()
  self.best_score, self.best_epoch = b and b.score, b and b.epoch
end

-- The best file: the best kept one.  In the default layout, before any, the file this
-- callback's filename names (a resumed run's best written under another filename stays its
-- best until a better epoch, as Lightning keeps best_model_path); otherwise nil until one is
-- kept (save_top_k = 0 keeps none).
function ModelCheckpoint:best_model_path()
  if self.dirpath == nil then return nil end
  local b = self.kept:best()
  if b then return gio.join(self.dirpath, b.name) end
  return not self.topk and gio.join(self.dirpath, self.filename .. EXT) or nil
end

function ModelCheckpoint:last_model_path()
  return self.dirpath and gio.join(self.dirpath, "last.safetensors") or nil
end

-- The paths of the kept files (in the default layout, the best file's, kept or to be).
local function kept_paths(self)
  local out = {}
  for _, e in ipairs(self.kept.entries) do out[#out + 1] = gio.join(self.dirpath, e.name) end
  if #out == 0 and not self.topk then out[1] = self:best_model_path() end
  return out
end

local function unlock(self)
  if self._lock then
    self._lock:unlock()
    self._lock = nil
  end
end

-- Whether the checkpoint at path is one of this folder's (its last or a kept file, by content):
-- a resume from it continues this folder's run.
local function holds(self, path)
  return ckpt.same_as_any(path, self:last_model_path(), table.unpack(kept_paths(self)))
end

-- The checkpoints in the folder that would be taken for this fit's, for the refusals below:
-- the default layout's best and last files; with a template any checkpoint file, since the
-- names of an earlier fit's are not known.
local function present(self)
  local out = {}
  if not self.topk then
    for _, p in ipairs({ self:last_model_path(), self:best_model_path() }) do
      if gio.exists(p) then out[#out + 1] = p:match("[^/]+$") end
    end
    return out
  end
  for _, e in ipairs(gio.list_dir(self.dirpath) or {}) do
    if e:sub(-#EXT) == EXT and e:sub(1, 1) ~= "." then out[#out + 1] = e end
  end
  table.sort(out)
  return out
end

-- Whether path is the file this fit resumed from (Lightning never removes that one).
local function resumed_from(trainer, path)
  if trainer.resumed_from == nil then return false end
  local a, b = gio.stat(path), gio.stat(trainer.resumed_from)
  return a ~= nil and b ~= nil and a.device == b.device and a.inode == b.inode
end

-- Removes the files that dropped out of the kept ones (self.to_remove): after the epoch's
-- commit (the trainer calls this once every checkpoint callback has written its `last`), or at
-- a resume whose `last` lists files a killed run did not get to remove.  A file kept again, or
-- the one this fit resumed from, stays.
function ModelCheckpoint:remove_dropped(trainer)
  local list = self.to_remove
  self.to_remove = {}
  if self.dirpath == nil then return end
  for _, n in ipairs(list) do
    local p = gio.join(self.dirpath, n)
    -- (a file already gone may have left its sidecar: a run killed between the two removals)
    if self.kept:find(n) == nil and not resumed_from(trainer, p) then
      local ok, err = ckpt.remove(p)
      if not ok then
        trainer:warn(string.format("ModelCheckpoint: cannot remove %s, which dropped out of the %d best: %s",
          p, self.save_top_k, tostring(err)))
      end
    end
  end
end

-- A resume from this folder: the kept files its state lists that are not there (removed by
-- hand; in the default layout, a best written under another filename by a checkpoint that kept
-- no best_file) are tracked no more, so no file of unknown standing is written over or removed.
local function forget_missing(self, trainer)
  if not self.topk then
    if self.best_score ~= nil and not gio.exists(self:best_model_path()) then
      local msg = string.format("resume: the resumed run's best file is not %s (another filename, or " ..
        "removed); the best is tracked from this fit's epochs", self:best_model_path())
      self.kept:load({})
      sync(self)
      trainer:warn(msg)
    end
    return
  end
  local gone = {}
  for i = #self.kept.entries, 1, -1 do
    local e = self.kept.entries[i]
    if not gio.exists(gio.join(self.dirpath, e.name)) then
      table.insert(gone, 1, e.name)
      table.remove(self.kept.entries, i)
    end
  end
  if #gone > 0 then
    sync(self)
    trainer:warn(string.format("resume: the resumed run's kept checkpoints %s are not in %s (removed?); " ..
      "they are no longer among the %s best", table.concat(gone, ", "), self.dirpath,
      self.save_top_k == -1 and "kept" or tostring(self.save_top_k)))
  end
end

function ModelCheckpoint:on_fit_start(trainer)
  -- fast_dev_run writes nothing (Lightning's): no folder, no lock, no refusal of an earlier fit's
  if trainer.fast_dev_run then return end
  if self.dirpath == nil and trainer.default_root_dir then
    self.dirpath = gio.join(trainer.default_root_dir, "checkpoints")
  end
  if self._load_note then
    trainer:warn(self._load_note)
    self._load_note = nil
  end
  if self.dirpath == nil then
    self.to_remove = {}
    return
  end
  local ok, err = gio.mkdir_p(self.dirpath)
  if not ok then
    error("ModelCheckpoint: cannot create '" .. self.dirpath .. "': " .. tostring(err), 0)
  end
  -- One writer per directory: a second run into it would interleave its files with ours.
  -- The kernel drops the flock when its process dies, so a killed run never blocks a resume.
  local lk, lerr, code = gio.lock(gio.join(self.dirpath, ".lock"), { exclusive = true, timeout = 0 })
  if not lk then
    -- only a held lock (ESTATE) means another run; anything else (a read-only folder) says why
    error(string.format(code == "ESTATE" and "ModelCheckpoint: '%s' is in use by another run (%s)" or
      "ModelCheckpoint: cannot lock '%s': %s", self.dirpath, tostring(lerr)), 0)
  end
  self._lock = lk
  -- A killed predecessor may have left a write half done: finish it, so the files of a
  -- resumed run end up as an uninterrupted run leaves them.
  ckpt.remove_stale(self.dirpath)
  for _, p in ipairs(kept_paths(self)) do ckpt.settle(p) end
  ckpt.settle(self:last_model_path())
  local last = self:last_model_path()
  local here = present(self)
  local earlier = gio.exists(last) or (not self.save_last and #here > 0)
  if trainer.resumed_from == nil and not self.overwrite and earlier then
    -- a fresh fit would replace an earlier fit's best model with its own first epoch.  (`last`
    -- is an epoch's commit point: a best file without it is a first epoch that died, which
    -- the new fit replays; without save_last there is no commit point, and a best file is an
    -- earlier fit's.)
    unlock(self)
    local others = {}
    for _, n in ipairs(here) do
      if n ~= "last.safetensors" then others[#others + 1] = n end
    end
    error(string.format("ModelCheckpoint: '%s' holds the checkpoints of an earlier fit " ..
      "(last.safetensors%s); resume from them (ckpt_path), remove them, or pass overwrite = true",
      self.dirpath, #others > 0 and ", " .. table.concat(others, ", ") or ""), 0)
  elseif trainer.resumed_from ~= nil and not holds(self, trainer.resumed_from) then
    -- resumed into another folder: the resumed run's kept files are elsewhere (and its files to
    -- remove too).  Files of another fit here would be taken for this one's.
    if not self.overwrite and #here > 0 then
      unlock(self)
      error(string.format("ModelCheckpoint: resuming %s into '%s', whose checkpoints it is not among " ..
        "(not, by content, its last or best file): they are another fit's, or this fit's from " ..
        "another point (a mid-epoch save); resume from its last file, into an empty folder, or " ..
        "pass overwrite = true (the best is then tracked from this fit's epochs)",
        trainer.resumed_from, self.dirpath), 0)
    end
    self.to_remove = {}
    if #self.kept.entries > 0 then
      -- track the best afresh, so best_model_path() names a file this fit writes.  (With several
      -- checkpoint callbacks this is also a run killed after another callback's `last` and
      -- before this one wrote its files of that epoch: they are not written again, so this
      -- folder then differs from an uninterrupted run's; said here, not silently.)
      local lost = {}
      for _, e in ipairs(self.kept.entries) do lost[#lost + 1] = e.name end
      self.kept:load({})
      sync(self)
      trainer:warn(string.format("resume: %s: the checkpoint resumed from is not, by content, the last or " ..
        "best file of %s, so its kept files %s are not there and are dropped; the best is tracked " ..
        "from this fit's epochs (a run killed before this callback wrote its files: this folder will " ..
        "differ from an uninterrupted run's)", self.state_key, self.dirpath, table.concat(lost, ", ")))
    end
  elseif trainer.resumed_from ~= nil then
    local last_path = self:last_model_path()
    if self.save_last and gio.exists(last_path) and not ckpt.same_as_any(trainer.resumed_from, last_path)
        and (trainer.epoch >= trainer.max_epochs or trainer.should_stop) then
      -- the resumed checkpoint is one of this folder's kept files but not its `last`, and no
      -- epoch is left to write `last` again: a run killed between this callback's kept file and
      -- its `last` (or a resume from an older kept file).  `last` stays another epoch's.
      trainer:warn(string.format("resume: %s: %s is not, by content, the checkpoint resumed from " ..
        "(%s), and no epoch is left to write it again: it stays another epoch's checkpoint (a run " ..
        "killed between this callback's kept file and its last?)", self.state_key, last_path,
        trainer.resumed_from))
    end
    forget_missing(self, trainer)
    -- a run killed after its commit and before its removals: finish them
    self:remove_dropped(trainer)
  end
end

function ModelCheckpoint:on_fit_end()
  unlock(self)
end

function ModelCheckpoint:on_exception()
  unlock(self)
end

-- A NaN monitored value is the worst one (Lightning's): taken as is, the first epoch's NaN
-- would stay the best forever, every comparison with it being false.
local function judged_value(self, v)
  if v ~= v then return self.mode == "min" and math.huge or -math.huge end
  return v
end

-- The file name of a new kept file: the filename, or the template filled with this epoch's
-- metrics, epoch and step; then Lightning's version counter ("-v1", "-v2") while a kept file
-- other than the one it replaces has the name.  (Lightning counts past any file on disk; a
-- file here that is not a kept one is a killed epoch's, which its replay writes again.)
local function file_name(self, trainer, dropped)
  local base = self.filename
  if self.template then
    local values = {}
    for k, v in pairs(trainer.callback_metrics) do values[k] = v end
    values.epoch, values.step = trainer.epoch, trainer.global_step
    local s, field, why = names.format(self.template, values)
    if s == nil then
      error(string.format("ModelCheckpoint: filename template '%s': %s", self.filename, why or
        string.format("'%s' was not logged this epoch (logged: %s; and epoch, step)", field,
          Callback.logged_names(trainer))), 0)
    end
    if s == "last" or s:find("/", 1, true) then
      error(string.format("ModelCheckpoint: filename template '%s' gives '%s', which is not a " ..
        "checkpoint's file name", self.filename, s), 0)
    end
    base = s
  end
  local name, v = base .. EXT, 0
  while true do
    local e = self.kept:find(name)
    if e == nil or e == dropped then return name end
    v = v + 1
    name = string.format("%s-v%d%s", base, v, EXT)
  end
end

-- Judges this epoch and records the outcome in the state: the file it enters as (self._judged)
-- and the one it pushes out (self.to_remove).  The trainer asks every checkpoint callback
-- before any of them writes (so each file holds every callback's state of this epoch);
-- on_train_epoch_end asks itself when called alone.
function ModelCheckpoint:judge_epoch(trainer)
  if trainer.fast_dev_run then return end
  local judged = { epoch = trainer.epoch }
  self._judged = judged
  -- Lightning's rule: the top k are looked at on every n-th epoch only (n = 0: never)
  local n = self.every_n_epochs
  if self.save_top_k == 0 or n == 0 or (trainer.epoch + 1) % n ~= 0 then return end
  -- an epoch without validation (check_val_every_n_epoch) is not judged: its `last` is still
  -- written, the commit point of exact resume
  local v = Callback.monitored_if_validated("ModelCheckpoint", trainer, self.monitor)
  if v == nil then return end
  v = judged_value(self, v)
  if not self.kept:admits(v) then return end
  local dropped = self.kept:dropped()
  local name = file_name(self, trainer, dropped) -- (may raise: nothing is changed before it)
  self.kept:add(name, v, trainer.epoch, dropped)
  sync(self)
  judged.write = name
  -- (the default layout writes its one file over in place and removes nothing: a best a
  -- resumed run wrote under another filename stays, as it always has)
  if self.topk and dropped ~= nil and dropped.name ~= name and self.dirpath ~= nil then
    self.to_remove[#self.to_remove + 1] = dropped.name
  end
end

function ModelCheckpoint:on_train_epoch_end(trainer)
  if trainer.fast_dev_run then return end
  local alone = self._judged == nil or self._judged.epoch ~= trainer.epoch
  if alone then self:judge_epoch(trainer) end
  local write = self._judged.write
  self._judged = nil
  if self.dirpath == nil then
    return
  end
  if write then
    trainer:save_checkpoint(gio.join(self.dirpath, write))
  end
  if self.save_last then
    trainer:save_checkpoint(self:last_model_path())
  end
  -- (judged by the trainer, it removes them itself once every checkpoint callback has written)
  if alone then self:remove_dropped(trainer) end
end

-- (the resume state: callbacks/checkpoint_state.lua)
function ModelCheckpoint:state_dict()
  return state.state_dict(self)
end

ModelCheckpoint.check_state = state.check

function ModelCheckpoint:load_state_dict(st)
  state.load(self, st)
  sync(self)
end

return ModelCheckpoint
