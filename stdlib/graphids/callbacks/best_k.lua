-- graphids.callbacks.best_k -- the checkpoints ModelCheckpoint keeps: Lightning's best_k_models
-- (file name -> score), with the epoch each was written at.
--   local BestK = require "graphids.callbacks.best_k"
--   local kept = BestK("min", 3)                  -- save_top_k: n, -1 (all) or 0 (none)
--   if kept:admits(v) then local dropped = kept:dropped(); kept:add(name, v, epoch, dropped) end
--   kept:best(), kept:kth()                       -- entries {name =, score =, epoch =}
-- Lightning's rules: a score enters while fewer than k are kept, or when strictly better than
-- the k-th best, which then drops out; the k-th best is the first kept entry with the worst
-- score and the best the first with the best score, "first" in the order they were kept
-- (Python's max / min over its ordered dict).  Entries are kept in that order, which is the
-- order of their epochs (a name written again goes to the end, as Lightning pops and re-adds
-- it), so a resumed set sorted by epoch breaks ties as the uninterrupted one.
local class = require "graphids.class"

local BestK = class("BestK")

function BestK:__init(mode, k)
  self.mode, self.k, self.entries = mode, k, {}
end

local function better(mode, a, b)
  if mode == "min" then return a < b end
  return a > b
end

-- The first entry whose score no other beats in direction `want` ("best" or "worst").
local function first_extreme(self, want)
  local pick
  for _, e in ipairs(self.entries) do
    if pick == nil then
      pick = e
    elseif want == "best" and better(self.mode, e.score, pick.score) then
      pick = e
    elseif want == "worst" and better(self.mode, pick.score, e.score) then
      pick = e
    end
  end
  return pick
end

function BestK:best()
  return first_extreme(self, "best")
end

-- Lightning's kth_best_model_path: the entry that drops out next, once k are kept (with k = -1,
-- the worst of all).
function BestK:kth()
  if self.k == -1 or (self.k > 0 and #self.entries >= self.k) then return first_extreme(self, "worst") end
  return nil
end

-- Whether score v enters (Lightning's check_monitor_top_k).
function BestK:admits(v)
  if self.k == 0 then return false end
  if self.k == -1 or #self.entries < self.k then return true end
  return better(self.mode, v, self:kth().score)
end

-- The entry that a score entering now pushes out (nil while fewer than k are kept, or k = -1).
function BestK:dropped()
  if self.k > 0 and #self.entries >= self.k then return self:kth() end
  return nil
end

function BestK:find(name)
  for i, e in ipairs(self.entries) do
    if e.name == name then return e, i end
  end
  return nil
end

-- Removes the entry `dropped` (if any) and keeps name with score v of epoch.
function BestK:add(name, v, epoch, dropped)
  if dropped ~= nil then self:remove(dropped.name) end
  self:remove(name)
  self.entries[#self.entries + 1] = { name = name, score = v, epoch = epoch }
end

function BestK:remove(name)
  local _, i = self:find(name)
  if i then table.remove(self.entries, i) end
end

-- Restores entries (a list of {name, score, epoch}), in the order they were kept: by epoch
-- (an entry without one, from a checkpoint that kept none, first), then name.
function BestK:load(entries)
  table.sort(entries, function(a, b)
    local ea, eb = a.epoch or -1, b.epoch or -1
    if ea ~= eb then return ea < eb end
    return a.name < b.name
  end)
  self.entries = entries
end

-- Keeps the k best (a resume under a smaller save_top_k); returns the entries let go.
function BestK:trim()
  local out = {}
  while self.k > 0 and #self.entries > self.k do
    local worst = first_extreme(self, "worst")
    self:remove(worst.name)
    out[#out + 1] = worst
  end
  return out
end

return BestK
