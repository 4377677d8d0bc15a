-- graphids.callbacks.ModelCheckpoint -- keeps the best checkpoint (strict improvement of a
-- monitored metric) and the last one.
--   local cb = require "graphids.callbacks"
--   cb.ModelCheckpoint{monitor = "val_loss", mode = "min"}   -- <root>/checkpoints/best_model.safetensors
-- Options: monitor ("val_loss"), mode ("min" | "max"), dirpath (default
-- <trainer.default_root_dir>/checkpoints; with neither nothing is written but the best score is
-- still tracked), filename ("best_model"), save_last (true: last.safetensors every epoch),
-- overwrite (false: a fresh fit refuses a folder that holds an earlier fit's best or last file;
-- the stage verbs pass true, their commit removes the stale files first).
-- At each epoch end the best file is written first and last second: `last` is the commit point
-- of an epoch, so a run killed between the two resumes from the previous `last`, replays the
-- epoch and writes the same best file again.  The trainer runs ModelCheckpoint after the other
-- callbacks, so the state they saved (early-stopping counter, stop flag) is this epoch's.
-- While a fit runs it holds an exclusive lock on <dirpath>/.lock: a second run into the same
-- directory fails at its start instead of interleaving checkpoints.  An epoch without validation
-- (the trainer's check_val_every_n_epoch) is not judged for best; with fast_dev_run nothing is
-- written or locked.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local Callback = require "graphids.callbacks.base"

local ModelCheckpoint = class("ModelCheckpoint", Callback)

local DEFAULTS = { monitor = "val_loss", mode = "min", dirpath = U.NONE, filename = "best_model",
  save_last = true, overwrite = false }

function ModelCheckpoint:__init(opts)
  local o = U.options("ModelCheckpoint", opts, DEFAULTS, U.CTOR)
  Callback.check_mode("ModelCheckpoint", o.mode)
  if type(o.filename) ~= "string" or o.filename == "" or o.filename:find("/", 1, true) or
      o.filename == "last" then
    error("ModelCheckpoint: filename must be a file name other than 'last' (the last checkpoint's), got " ..
      tostring(o.filename), U.CTOR)
  end
  if o.filename:find("{", 1, true) then
    -- a Lightning template ("m-{epoch:02d}-{val_loss:.2f}") would be written literally
    error("ModelCheckpoint: filename templates such as '{epoch}' are not supported (one best file is " ..
      "kept, its epoch and metrics are in the checkpoint), got " .. o.filename, U.CTOR)
  end
  if o.dirpath ~= nil and type(o.dirpath) ~= "string" then
    error("ModelCheckpoint: dirpath must be a string, got " .. type(o.dirpath), U.CTOR)
  end
  self.monitor, self.mode, self.dirpath = o.monitor, o.mode, o.dirpath
  self.filename, self.save_last, self.overwrite = o.filename, o.save_last, o.overwrite
  self.state_key = string.format("ModelCheckpoint{monitor=%s,mode=%s}", o.monitor, o.mode)
  self.best_score, self.best_epoch = nil, nil
  self.is_checkpoint = true
end

-- The best file: this callback's filename, or, until this fit finds a better epoch, the file a
-- resumed run wrote its best to under another filename (_best_file, from the state).
function ModelCheckpoint:best_model_path()
  if self.dirpath == nil then return nil end
  return gio.join(self.dirpath, self._best_file or (self.filename .. ".safetensors"))
end

function ModelCheckpoint:last_model_path()
  return self.dirpath and gio.join(self.dirpath, "last.safetensors") or nil
end

local function unlock(self)
  if self._lock then
    self._lock:unlock()
    self._lock = nil
  end
end

-- Whether the checkpoint at path is one of this folder's (its last or best file, by content):
-- a resume from it continues this folder's run.
local function holds(self, path)
  return ckpt.same_as_any(path, self:last_model_path(), self:best_model_path())
end

function ModelCheckpoint:on_fit_start(trainer)
  -- fast_dev_run writes nothing (Lightning's): no folder, no lock, no refusal of an earlier fit's
  if trainer.fast_dev_run then return end
  if self.dirpath == nil and trainer.default_root_dir then
    self.dirpath = gio.join(trainer.default_root_dir, "checkpoints")
  end
  if self.dirpath then
    local ok, err = gio.mkdir_p(self.dirpath)
    if not ok then
      error("ModelCheckpoint: cannot create '" .. self.dirpath .. "': " .. tostring(err), 0)
    end
    -- A killed predecessor may have left a write half done: finish it, so the files of a
    -- resumed run end up as an uninterrupted run leaves them.
    -- One writer per directory: a second run into it would interleave its files with ours.
    -- The kernel drops the flock when its process dies, so a killed run never blocks a resume.
    local lk, lerr, code = gio.lock(gio.join(self.dirpath, ".lock"), { exclusive = true, timeout = 0 })
    if not lk then
      -- only a held lock (ESTATE) means another run; anything else (a read-only folder) says why
      error(string.format(code == "ESTATE" and "ModelCheckpoint: '%s' is in use by another run (%s)" or
        "ModelCheckpoint: cannot lock '%s': %s", self.dirpath, tostring(lerr)), 0)
    end
    self._lock = lk
    ckpt.remove_stale(self.dirpath)
    ckpt.settle(self:best_model_path())
    ckpt.settle(self:last_model_path())
    local best, last = self:best_model_path(), self:last_model_path()
    local earlier = gio.exists(last) or (not self.save_last and gio.exists(best))
    if trainer.resumed_from == nil and not self.overwrite and earlier then
      -- a fresh fit would replace an earlier fit's best model with its own first epoch.  (`last`
      -- is an epoch's commit point: a best file without it is a first epoch that died, which
      -- the new fit replays; without save_last there is no commit point, and a best file is an
      -- earlier fit's.)
      unlock(self)
      error(string.format("ModelCheckpoint: '%s' holds the checkpoints of an earlier fit " ..
        "(last.safetensors%s); resume from them (ckpt_path), remove them, or pass overwrite = true",
        self.dirpath, gio.exists(best) and ", " .. best:match("[^/]+$") or ""), 0)
    elseif trainer.resumed_from ~= nil and not holds(self, trainer.resumed_from) then
      -- resumed into another folder: the resumed run's best file is elsewhere.  Files of another
      -- fit here would be taken for this one's (its best named by best_model_path()).
      if not self.overwrite and (gio.exists(last) or gio.exists(best)) then
        unlock(self)
        error(string.format("ModelCheckpoint: resuming %s into '%s', whose checkpoints it is not among " ..
          "(not, by content, its last or best file): they are another fit's, or this fit's from " ..
          "another point (a mid-epoch save); resume from its last file, into an empty folder, or " ..
          "pass overwrite = true (the best is then tracked from this fit's epochs)",
          trainer.resumed_from, self.dirpath), 0)
      end
      if self.best_score ~= nil then
        -- track the best afresh, so best_model_path() names a file this fit writes
        self.best_score, self.best_epoch, self._best_file = nil, nil, nil
        local msg = string.format("resume: the checkpoint resumed from is not, by content, the last or " ..
          "best file of %s, so the best file of its run is not known there; the best is tracked " ..
          "from this fit's epochs", self.dirpath)
        trainer:warn(msg)
      end
    elseif trainer.resumed_from ~= nil and self.best_score ~= nil
        and not gio.exists(self:best_model_path()) then
      -- the resumed run's best is in no file this callback can name (it was written under
      -- another filename by a checkpoint that kept no best_file, or removed): tracked afresh,
      -- so the next best goes to a file of its own rather than over a file of unknown standing
      local msg = string.format("resume: the resumed run's best file is not %s (another filename, or " ..
        "removed); the best is tracked from this fit's epochs", self:best_model_path())
      self.best_score, self.best_epoch, self._best_file = nil, nil, nil
      trainer:warn(msg)
    end
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

local function improved(self, v)
  if self.best_score == nil then
    return true
  end
  if self.mode == "min" then
    return v < self.best_score
  end
  return v > self.best_score
end

-- Whether this epoch is the best yet, recorded in the state.  The trainer asks every
-- checkpoint callback before any of them writes (so each file holds every callback's state of
-- this epoch); on_train_epoch_end asks itself when called alone.
function ModelCheckpoint:judge_epoch(trainer)
  if trainer.fast_dev_run then return end
  -- an epoch without validation (check_val_every_n_epoch) is not judged: its `last` is still
  -- written, the commit point of exact resume
  local v = Callback.monitored_if_validated("ModelCheckpoint", trainer, self.monitor)
  if v ~= nil then v = judged_value(self, v) end
  local better = v ~= nil and improved(self, v)
  if better then
    self.best_score, self.best_epoch = v, trainer.epoch
    self._best_file = nil -- (written under this callback's filename from now on)
  end
  self._judged = { epoch = trainer.epoch, better = better }
end

function ModelCheckpoint:on_train_epoch_end(trainer)
  if trainer.fast_dev_run then return end
  if self._judged == nil or self._judged.epoch ~= trainer.epoch then self:judge_epoch(trainer) end
  local better = self._judged.better
  self._judged = nil
  if self.dirpath == nil then
    return
  end
  if better then
    trainer:save_checkpoint(self:best_model_path())
  end
  if self.save_last then
    trainer:save_checkpoint(self:last_model_path())
  end
end

function ModelCheckpoint:state_dict()
  local best = self:best_model_path()
  return { best_score = self.best_score, best_epoch = self.best_epoch, monitor = self.monitor,
    mode = self.mode, best_file = best and best:match("[^/]+$") or nil }
end

function ModelCheckpoint.check_state(st)
  Callback.check_fields(st, { { "best_score", "number?" }, { "best_epoch", "count?" } })
  -- (any name the constructor takes for filename, with the extension: no folder in it)
  local f = st.best_file
  if f ~= nil and (type(f) ~= "string" or not f:match("^[^/]+%.safetensors$")) then
    error("'best_file' must be a file name ending in .safetensors, got " .. U.describe(f), 0)
  end
end

-- A resumed run whose best went to a file of another name (a filename changed between the
-- runs) keeps naming that file as its best until a better epoch comes (Lightning keeps the
-- best_model_path of its state too).
function ModelCheckpoint:load_state_dict(st)
  self.check_state(st)
  self.best_score, self.best_epoch = st.best_score, st.best_epoch
  local own = self.filename .. ".safetensors"
  local other = st.best_file ~= nil and st.best_file ~= own and st.best_score ~= nil
  self._best_file = other and st.best_file or nil
end

return ModelCheckpoint
