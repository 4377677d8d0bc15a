-- graphids.data.loader -- batch plans over a graph set and the loader that walks them
-- (used by graphids.data.GraphDataModule; not merged into graphids.data).
--   local loader = require "graphids.data.loader"
--   local plan = loader.fixed_batches(graphs, 32)                       -- {{g, g, ...}, ...}
--   local plan, skipped = loader.pack_budget(graphs, nodes, edges, {nodes = 50000, edges = 120000})
--   local L = loader.Loader{set = set, plan = plan, shuffle = "batches", seed = 1}
--   for batch in L:iter(epoch) do ... end        -- graphids.data.Batch objects
--
-- A plan is a list of batches, each a list of 0-based graph numbers of the set.  Shuffling is a
-- function of (seed, epoch) only -- never of what ran before -- so a run resumed at (epoch,
-- position) sees exactly the batches the uninterrupted run would have seen.
local graphids = require "graphids"
local class = require "graphids.class"
local U = require "graphids.nn._util"

local M = {}

-- Consecutive batches of size graphs (the last may be smaller) of the list `graphs`.
function M.fixed_batches(graphs, size)
  assert(math.type(size) == "integer" and size >= 1, "fixed_batches: size must be an integer >= 1")
  local plan = {}
  for i, g in ipairs(graphs) do
    local b = (i - 1) // size + 1
    local batch = plan[b] or {}
    plan[b] = batch
    batch[#batch + 1] = g
  end
  return plan
end

-- First-fit decreasing under two budgets.  graphs: list of graph numbers; nodes[i], edges[i]:
-- sizes of graphs[i].  Graphs are taken largest first (nodes, then edges, then graph number, so
-- the plan is deterministic) and each goes into the first open batch where both its node and
-- edge counts still fit.  A graph larger than a budget by itself is skipped and counted.
-- Returns plan (batches in creation order, graph numbers within a batch ascending), skipped.
function M.pack_budget(graphs, nodes, edges, budget)
  local nb, eb = budget.nodes, budget.edges
  assert(type(nb) == "number" and nb >= 1, "pack_budget: budget.nodes must be >= 1")
  assert(type(eb) == "number" and eb >= 1, "pack_budget: budget.edges must be >= 1")
  local order = {}
  for i = 1, #graphs do
    order[i] = i
  end
  table.sort(order, function(a, b)
    if nodes[a] ~= nodes[b] then
      return nodes[a] > nodes[b]
    end
    if edges[a] ~= edges[b] then
      return edges[a] > edges[b]
    end
    return graphs[a] < graphs[b]
  end)
  local plan, room_n, room_e, skipped = {}, {}, {}, 0
  -- Batches before `first` cannot take even the smallest graph: never scanned again.
  local smallest_n, smallest_e = math.huge, math.huge
  for i = 1, #graphs do
    smallest_n = math.min(smallest_n, nodes[i])
    smallest_e = math.min(smallest_e, edges[i])
  end
  local first = 1
  for _, i in ipairs(order) do
    local n, e = nodes[i], edges[i]
    if n > nb or e > eb then
      skipped = skipped + 1
    else
      while first <= #plan and (room_n[first] < smallest_n or room_e[first] < smallest_e) do
        first = first + 1
      end
      local placed = false
      for b = first, #plan do
        if room_n[b] >= n and room_e[b] >= e then
          local batch = plan[b]
          batch[#batch + 1] = graphs[i]
          room_n[b], room_e[b] = room_n[b] - n, room_e[b] - e
          placed = true
          break
        end
      end
      if not placed then
        plan[#plan + 1] = { graphs[i] }
        room_n[#plan], room_e[#plan] = nb - n, eb - e
      end
    end
  end
  for _, batch in ipairs(plan) do
    table.sort(batch)
  end
  return plan, skipped
end

-- The 0-based permutation of 0..n-1 for (seed, epoch): a generator seeded from both, so every
-- epoch's order is reproducible on its own.
function M.epoch_permutation(n, seed, epoch)
  if n == 0 then
    return {}
  end
  local g = graphids.Generator(seed * 1000003 + epoch)
  return graphids.randperm(n, { generator = g }):totable()
end

local Loader = class("Loader")
M.Loader = Loader

-- The resumable epoch walk shared by the data modules.  dm has epoch, position (batches of the
-- current epoch already served) and a train_loader() method.  train_batches(dm) iterates the
-- train batches of dm's current epoch from its saved position, keeping dm.position up to date
-- (so a checkpoint taken mid-epoch resumes at the next batch); next_epoch(dm) then advances.
function M.train_batches(dm)
  local it = dm:train_loader():iter(dm.epoch, dm.position + 1)
  return function()
    local b, i = it()
    if b ~= nil then
      dm.position = i
    end
    return b, i
  end
end

function M.next_epoch(dm)
  dm.epoch, dm.position = dm.epoch + 1, 0
end

-- opts: set (graph set), plan (list of lists of 0-based graph numbers), shuffle = false |
-- "graphs" (reshuffle graphs each epoch, then cut into batches of batch_size) | "batches"
-- (keep the packed batches, shuffle their order), batch_size (for "graphs"), seed, name.
-- skipped: graphs the plan left out (reported by the data module); device: where batches go.
local OPTS = { set = U.NONE, plan = U.NONE, shuffle = U.NONE, batch_size = U.NONE,
  seed = U.NONE, name = U.NONE, skipped = U.NONE, device = U.NONE }

function Loader:__init(opts)
  local o = U.options("Loader", opts, OPTS, U.CTOR)
  if o.set == nil or type(o.plan) ~= "table" then
    error("Loader: options set (a graph set) and plan (a list of batches) are required", U.CTOR)
  end
  local shuffle = o.shuffle or false
  if shuffle ~= false and shuffle ~= "graphs" and shuffle ~= "batches" then
    error("Loader: shuffle must be false, 'graphs' or 'batches', got " .. tostring(shuffle), U.CTOR)
  end
  if shuffle == "graphs" and (math.type(o.batch_size) ~= "integer" or o.batch_size < 1) then
    error("Loader: shuffle = 'graphs' needs an integer batch_size >= 1, got " ..
      tostring(o.batch_size), U.CTOR)
  end
  self.set, self.plan, self.shuffle, self.batch_size = o.set, o.plan, shuffle, o.batch_size
  self.seed = o.seed or 0
  self.name = o.name or "loader"
  self.skipped = o.skipped or 0
  self.device = o.device
end

function Loader:__len()
  return #self.plan
end

function Loader:__tostring()
  local n = 0
  for _, b in ipairs(self.plan) do
    n = n + #b
  end
  return string.format("Loader(%s: %d graphs in %d batches, shuffle=%s)", self.name, n, #self.plan,
    tostring(self.shuffle))
end

-- The batches of an epoch, in order: lists of 0-based graph numbers.
function Loader:epoch_plan(epoch)
  epoch = epoch or 0
  if not self.shuffle then
    return self.plan
  end
  if self.shuffle == "batches" then
    local perm = M.epoch_permutation(#self.plan, self.seed, epoch)
    local out = {}
    for i, p in ipairs(perm) do
      out[i] = self.plan[p + 1]
    end
    return out
  end
  local all = {}
  for _, b in ipairs(self.plan) do
    for _, g in ipairs(b) do
      all[#all + 1] = g
    end
  end
  local perm = M.epoch_permutation(#all, self.seed, epoch)
  local shuffled = {}
  for i, p in ipairs(perm) do
    shuffled[i] = all[p + 1]
  end
  return M.fixed_batches(shuffled, self.batch_size)
end

-- The collated batch of a list of graph numbers.
function Loader:collate(graphs)
  local idx = graphids.tensor(graphs, { dtype = "i64" })
  local batch = require("graphids.data.batch").collate(self.set, idx)
  if self.device then
    batch = batch:to(self.device)
  end
  return batch
end

-- Iterator over the Batches of an epoch from position start (1-based batch number, default 1):
-- `for batch, i in loader:iter(epoch) do`.
-- A start past the end (a resume position saved under another train set or batch size) is an
-- error: it would silently skip the rest of the epoch.
function Loader:iter(epoch, start)
  local plan = self:epoch_plan(epoch)
  start = start or 1
  if math.type(start) ~= "integer" or start < 1 or start > #plan + 1 then
    error(string.format("%s: batch position %s is outside epoch %s, which has %d batches",
      self.name, tostring(start - 1), tostring(epoch), #plan), 2)
  end
  local i = start - 1
  return function()
    i = i + 1
    if plan[i] == nil then
      return nil
    end
    return self:collate(plan[i]), i
  end
end

return M
