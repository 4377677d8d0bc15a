-- graphids.trainer.ckpt_path -- what Trainer:fit / Trainer:test {ckpt_path = "last" | "best"}
-- name, resolved as Lightning resolves them (docs/trainer.md, "Exact resume"):
--   "last": the newest last.safetensors in the folders of the trainer's checkpoint callbacks;
--           none there is no error (a fit then starts afresh, a test uses the weights in memory)
--           but a warning, so the words can be set before the first fit;
--   "best": the best file of the first checkpoint callback; none is an error saying what to pass.
-- Any other string is a path, and nil stays nil.
local gio = require "graphids.io"

local M = {}

-- The folder a checkpoint callback writes into: its dirpath, else <default_root_dir>/checkpoints
-- (what ModelCheckpoint:on_fit_start takes), nil when it writes no files.
local function folder(trainer, cb)
  return cb.dirpath or (trainer.default_root_dir and gio.join(trainer.default_root_dir, "checkpoints"))
end

local function checkpoint_callbacks(trainer)
  local out = {}
  for _, c in ipairs(trainer.callbacks) do
    if c.is_checkpoint then out[#out + 1] = c end
  end
  return out
end

-- Why no checkpoint callback gives a folder: none is there (enable_checkpointing = false and
-- none listed), or the ones there have no dirpath and the Trainer no default_root_dir.
local function no_folder(cbs)
  if #cbs == 0 then
    return "the Trainer has no checkpoint callback (enable_checkpointing is false and none is listed)"
  end
  return "no checkpoint callback writes files: give ModelCheckpoint a dirpath or the Trainer a " ..
    "default_root_dir"
end

local function last(trainer, fname)
  local newest, at, looked = nil, nil, {}
  local cbs = checkpoint_callbacks(trainer)
  for _, cb in ipairs(cbs) do
    local dir = folder(trainer, cb)
    if dir then
      local p = gio.join(dir, "last.safetensors")
      looked[#looked + 1] = p
      local st = gio.stat(p)
      if st and (at == nil or st.mtime > at) then newest, at = p, st.mtime end
    end
  end
  if newest == nil then
    trainer:warn(string.format('Trainer:%s: ckpt_path = "last", but there is no last checkpoint (%s); ' ..
      "no checkpoint is loaded", fname, #looked > 0 and "looked for " .. table.concat(looked, ", ") or
      no_folder(cbs)))
  end
  return newest
end

local function best(trainer, fname)
  local cb = checkpoint_callbacks(trainer)[1]
  local dir = cb and folder(trainer, cb)
  if dir == nil then
    error(string.format('Trainer:%s: ckpt_path = "best" needs a ModelCheckpoint that writes files (%s); ' ..
      "pass the checkpoint's path", fname, cb and "it has no dirpath and the Trainer no default_root_dir" or
      "the Trainer has none"), 0)
  end
  -- (before a fit has set its dirpath, the callback's file in the folder it would take; a
  -- template's or a top-k's best is known from its state only, so there is none before a fit)
  local p
  if cb.dirpath then
    p = cb:best_model_path()
  elseif not cb.topk then
    p = gio.join(dir, cb.filename .. ".safetensors")
  end
  if p == nil then
    error(string.format('Trainer:%s: ckpt_path = "best": %s; fit first, or pass the checkpoint\'s path',
      fname, cb.save_top_k == 0 and "its ModelCheckpoint keeps no best file (save_top_k = 0)" or
      "its ModelCheckpoint has kept no file yet in " .. dir), 0)
  end
  if not gio.exists(p) then
    error(string.format('Trainer:%s: ckpt_path = "best": there is no best checkpoint %s yet (no epoch ' ..
      "has been judged best in that folder); fit first, or pass the checkpoint's path", fname, p), 0)
  end
  return p
end

-- path as given, or the file "last" / "best" name for this trainer (nil: "last" found none).
function M.resolve(trainer, path, fname)
  if path == "last" then return last(trainer, fname) end
  if path == "best" then return best(trainer, fname) end
  return path
end

return M
