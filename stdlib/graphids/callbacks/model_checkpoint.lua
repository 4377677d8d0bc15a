-- graphids.callbacks.ModelCheckpoint -- keeps the best checkpoint (strict improvement of a
-- monitored metric) and the last one.
--   local cb = require "graphids.callbacks"
--   cb.ModelCheckpoint{monitor = "val_loss", mode = "min"}   -- <root>/checkpoints/best_model.safetensors
-- Options: monitor ("val_loss"), mode ("min" | "max"), dirpath (default
-- <trainer.default_root_dir>/checkpoints; with neither nothing is written but the best score is
-- still tracked), filename ("best_model"), save_last (true: last.safetensors every epoch).
-- At each epoch end the best file is written first and last second: `last` is the commit point
-- of an epoch, so a run killed between the two resumes from the previous `last`, replays the
-- epoch and writes the same best file again.  The trainer runs ModelCheckpoint after the other
-- callbacks, so the state they saved (early-stopping counter, stop flag) is this epoch's.
-- While a fit runs it holds an exclusive lock on <dirpath>/.lock: a second run into the same
-- directory fails at its start instead of interleaving checkpoints.
local class = require "graphids.class"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local Callback = require "graphids.callbacks.base"

local ModelCheckpoint = class("ModelCheckpoint", Callback)

local DEFAULTS = { monitor = "val_loss", mode = "min", dirpath = U.NONE, filename = "best_model",
  save_last = true }

function ModelCheckpoint:__init(opts)
  local o = U.options("ModelCheckpoint", opts, DEFAULTS, U.CTOR)
  Callback.check_mode("ModelCheckpoint", o.mode)
  self.monitor, self.mode, self.dirpath = o.monitor, o.mode, o.dirpath
  self.filename, self.save_last = o.filename, o.save_last
  self.state_key = string.format("ModelCheckpoint{monitor=%s,mode=%s}", o.monitor, o.mode)
  self.best_score, self.best_epoch = nil, nil
  self.is_checkpoint = true
end

function ModelCheckpoint:best_model_path()
  return self.dirpath and gio.join(self.dirpath, self.filename .. ".safetensors") or nil
end

function ModelCheckpoint:last_model_path()
  return self.dirpath and gio.join(self.dirpath, "last.safetensors") or nil
end

function ModelCheckpoint:on_fit_start(trainer)
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
  end
end

local function unlock(self)
  if self._lock then
    self._lock:unlock()
    self._lock = nil
  end
end

function ModelCheckpoint:on_fit_end()
  unlock(self)
end

function ModelCheckpoint:on_exception()
  unlock(self)
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

function ModelCheckpoint:on_train_epoch_end(trainer)
  local v = Callback.monitored("ModelCheckpoint", trainer, self.monitor)
  local better = improved(self, v)
  if better then
    self.best_score, self.best_epoch = v, trainer.epoch
  end
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
  return { best_score = self.best_score, best_epoch = self.best_epoch, monitor = self.monitor,
    mode = self.mode }
end

function ModelCheckpoint:load_state_dict(st)
  self.best_score, self.best_epoch = st.best_score, st.best_epoch
end

return ModelCheckpoint
