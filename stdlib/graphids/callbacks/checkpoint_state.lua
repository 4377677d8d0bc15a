-- graphids.callbacks.checkpoint_state -- ModelCheckpoint's resume state: what a checkpoint holds
-- of it, the checks a resume runs before restoring anything, and the restore.
--   best_score, best_epoch, monitor, mode, best_file       (every layout: the best kept file)
--   best_k_models = {name = score}, best_k_epochs = {name = epoch}, kth_best = name,
--   to_remove = {name, ...}                                 (a template or save_top_k ~= 1)
-- Names are file names in the callback's dirpath (a folder moved between runs resumes).
local U = require "graphids.nn._util"
local Callback = require "graphids.callbacks.base"

local M = {}

local EXT = ".safetensors"

-- The default layout's state is the one it always had; with a template or save_top_k ~= 1 the
-- kept files (Lightning's best_k_models, name -> score, and kth_best), the epoch each was kept
-- at (which orders ties as the uninterrupted run did) and the files still to remove.
function M.state_dict(self)
  local best = self:best_model_path()
  local st = { best_score = self.best_score, best_epoch = self.best_epoch, monitor = self.monitor,
    mode = self.mode, best_file = best and best:match("[^/]+$") or nil }
  if self.topk then
    local scores, epochs = {}, {}
    for _, e in ipairs(self.kept.entries) do
      scores[e.name], epochs[e.name] = e.score, e.epoch
    end
    local kth = self.kept:kth()
    st.best_k_models, st.best_k_epochs, st.kth_best = scores, epochs, kth and kth.name
    st.to_remove = table.move(self.to_remove, 1, #self.to_remove, 1, {})
  end
  return st
end

local function check_name(what, f)
  -- (any name the constructor takes for filename, with the extension: no folder in it)
  if type(f) ~= "string" or not f:match("^[^/]+%.safetensors$") then
    error(string.format("'%s' must hold file names ending in .safetensors, got %s", what, U.describe(f)), 0)
  end
end

function M.check(st)
  Callback.check_fields(st, { { "best_score", "number?" }, { "best_epoch", "count?" } })
  if st.best_file ~= nil then
    if type(st.best_file) ~= "string" or not st.best_file:match("^[^/]+%.safetensors$") then
      error("'best_file' must be a file name ending in .safetensors, got " .. U.describe(st.best_file), 0)
    end
  end
  local scores, epochs = st.best_k_models, st.best_k_epochs
  if scores ~= nil then
    if type(scores) ~= "table" or type(epochs) ~= "table" then
      error("'best_k_models' and 'best_k_epochs' must be tables (file name -> score, file name -> epoch)", 0)
    end
    for name, score in pairs(scores) do
      check_name("best_k_models", name)
      if type(score) ~= "number" then
        error(string.format("'best_k_models' must map file names to scores, got %s for %s", U.describe(score),
          name), 0)
      end
      local e = epochs[name]
      if math.type(e) ~= "integer" or e < 0 then
        error(string.format("'best_k_epochs' must give the epoch (an integer >= 0) of every kept file, " ..
          "got %s for %s", U.describe(e), name), 0)
      end
    end
    if st.kth_best ~= nil and scores[st.kth_best] == nil then
      error(string.format("'kth_best' must name a file of 'best_k_models', got %s", U.describe(st.kth_best)),
        0)
    end
  end
  if st.to_remove ~= nil then
    if type(st.to_remove) ~= "table" then
      error("'to_remove' must be a list of file names, got " .. U.describe(st.to_remove), 0)
    end
    for _, n in ipairs(st.to_remove) do check_name("to_remove", n) end
  end
end

-- With a template or save_top_k ~= 1 the kept files come from best_k_models; in the default
-- layout (or from a checkpoint of it) the one best file from best_file and best_score.  A
-- resumed run whose best went to a file of another name (a filename changed between the
-- runs) keeps naming that file as its best until a better epoch comes (Lightning keeps the
-- best_model_path of its state too).
function M.load(self, st)
  M.check(st)
  local entries = {}
  if self.topk and st.best_k_models ~= nil then
    for name, score in pairs(st.best_k_models) do
      entries[#entries + 1] = { name = name, score = score, epoch = st.best_k_epochs[name] }
    end
  elseif st.best_score ~= nil then
    local name = st.best_file or (self.template == nil and self.filename .. EXT or nil)
    if name ~= nil then
      entries[1] = { name = name, score = st.best_score, epoch = st.best_epoch }
    else
      self._load_note = string.format("resume: the checkpoint does not name its best file, which the " ..
        "template '%s' cannot tell; the best is tracked from this fit's epochs", self.filename)
    end
  end
  self.kept:load(entries)
  local let_go = self.kept:trim()
  if #let_go > 0 then
    local list = {}
    for i, e in ipairs(let_go) do list[i] = e.name end
    self._load_note = string.format("resume: save_top_k = %d keeps fewer files than the checkpoint's run; " ..
      "%s stay on disk but are no longer among the kept ones", self.save_top_k, table.concat(list, ", "))
  end
  self.to_remove = {}
  for i, n in ipairs(st.to_remove or {}) do self.to_remove[i] = n end
end

return M
