-- graphids.orchestrate.state_calibration -- per-capture calibration of the anomaly detector's
-- columns of the fusion states (the extract stage's `calibration` share).
--   local SC = require "graphids.orchestrate.state_calibration"
--   local ref, train_maps = SC.reference(train, 0.1)  -- train = {states, window_start, source_file, id_view}
--   local states = SC.apply(split, ref, 0.1)          -- NEW [N, 15]: columns 1..8 recalibrated
--   local val_states = SC.apply(val, ref, 0.1, train_maps)  -- val: the train groups' mappings
--
-- Why: the VGAE's (or DGI's) errors depend on the vehicle.  On a capture from a vehicle outside
-- the training captures every window's errors are higher, attack or not, so a fusion policy
-- trained on the training vehicles reads the whole capture as attacks while the GAT's
-- probabilities stay right.  Each capture file (and, in the train and val files, each id view
-- of it) is therefore mapped onto the training captures' scale: per column, its median and
-- interquartile range over the file's first `share` of windows (by window start) are moved onto
-- those of the same windows of the training files pooled.  This is the assumption the
-- portable graphs' per-file scaler makes (docs/data.md): the start of a capture is normal
-- traffic, as for a detector calibrated at the start of a drive.  Labels are never read.
--
-- Columns 1..7 (the three errors and the latent statistics) are mapped linearly, each file on
-- its own, so the order of a file's windows by any column is unchanged; column 8 (confidence
-- = 1 / (1 + error 1)) is recomputed from the mapped error.  The GAT block is left as it is.
--
-- The val split is a random share of the training captures' windows: its (file, view) groups
-- are the train groups' captures with a quarter as many windows, so calibrated on their own
-- their first share was a handful of windows (5 or 6 of ~50 on synthetic data, seed 42), which
-- stretched a column up to 50x more or less than the same capture's train rows (136 of 600
-- anomaly > 0.5 decisions differed).  A val group therefore takes the mapping of the train
-- group of the same file and view (train_maps); only a group train lacks (a file max_train's
-- sample left out) is calibrated on its own windows.
local graphids = require "graphids"

local M = {}

M.MAPPED = 7 -- columns 1..MAPPED are mapped; MAPPED + 1 is the confidence
M.CONF = 8

-- q-quantile (linear between closest ranks) of an ascending list.
local function quantile(sorted, q)
  local pos = 1 + (#sorted - 1) * q
  local lo = math.floor(pos)
  local hi = math.min(lo + 1, #sorted)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
end

-- {median = {..}, iqr = {..}} of columns 1..MAPPED over the rows (lists of numbers).
local function robust_stats(rows)
  local s = { median = {}, iqr = {} }
  for j = 1, M.MAPPED do
    local v = {}
    for i, r in ipairs(rows) do v[i] = r[j] end
    table.sort(v)
    s.median[j] = quantile(v, 0.5)
    s.iqr[j] = quantile(v, 0.75) - quantile(v, 0.25)
  end
  return s
end

local function check_split(name, split)
  for _, k in ipairs({ "states", "window_start", "source_file", "id_view" }) do
    if split[k] == nil then
      error(string.format("state_calibration.%s: the split has no '%s'", name, k), 0)
    end
  end
end

-- The split's calibration groups: key (file, id view) -> {rows = state rows (tables), calib =
-- the rows of its first share of windows}; keys in ascending order.
local function groups(split, share)
  local states = split.states:totable()
  local ws = split.window_start:totable()
  local sf = split.source_file:totable()
  local view = split.id_view:totable()
  local by, keys = {}, {}
  for i = 1, #states do
    local key = sf[i] * 2 + view[i]
    if by[key] == nil then
      by[key] = { idx = {} }
      keys[#keys + 1] = key
    end
    local g = by[key].idx
    g[#g + 1] = i
  end
  table.sort(keys)
  for _, key in ipairs(keys) do
    local g = by[key]
    -- the group's windows by start (ties in row order)
    table.sort(g.idx, function(a, b)
      if ws[a] ~= ws[b] then return ws[a] < ws[b] end
      return a < b
    end)
    local n = math.max(1, math.ceil(share * #g.idx))
    g.calib = {}
    for k = 1, n do g.calib[k] = states[g.idx[k]] end
  end
  return by, keys, states
end

local function check_share(name, share)
  if type(share) ~= "number" or share <= 0 or share > 1 then
    error(string.format("state_calibration.%s: share must be in (0, 1], got %s", name,
      tostring(share)), 0)
  end
end

-- The linear map of a group with statistics s onto ref: column j -> (x - median[j]) *
-- scale[j] + ref.median[j]; a column whose spread is 0 in the group (or in ref) is only shifted.
local function group_map(s, ref)
  local scale = {}
  for j = 1, M.MAPPED do
    scale[j] = (s.iqr[j] > 0 and ref.iqr[j] > 0) and ref.iqr[j] / s.iqr[j] or 1.0
  end
  return { median = s.median, scale = scale }
end

-- The training scale: robust statistics of the first share of windows of every train file
-- (states as captured: id view 0), pooled; and, second, the mapping of each (file, id view)
-- group of the train split onto it (for apply's `maps`: the val split's windows come from the
-- same captures).
function M.reference(train, share)
  check_split("reference", train)
  check_share("reference", share)
  local by, keys = groups(train, share)
  local rows = {}
  for _, key in ipairs(keys) do
    if key % 2 == 0 then
      for _, r in ipairs(by[key].calib) do rows[#rows + 1] = r end
    end
  end
  if #rows == 0 then
    error("state_calibration.reference: the train split has no states with id view 0", 0)
  end
  local ref = robust_stats(rows)
  local maps = {}
  for _, key in ipairs(keys) do
    maps[key] = group_map(robust_stats(by[key].calib), ref)
  end
  return ref, maps
end

-- NEW [N, 15] f32: split.states with columns 1..MAPPED of each (file, id view) group mapped
-- from the group's calibration statistics onto ref, and the confidence recomputed.  A column
-- whose spread is 0 in the group (or in ref) is only shifted.  maps (reference's second
-- value, for a split of the training captures' windows: val) gives the mapping of each group
-- it has, instead of the group's own.
function M.apply(split, ref, share, maps)
  check_split("apply", split)
  check_share("apply", share)
  local by, keys, states = groups(split, share)
  for _, key in ipairs(keys) do
    local g = by[key]
    local m = maps and maps[key] or group_map(robust_stats(g.calib), ref)
    for _, i in ipairs(g.idx) do
      local r = states[i]
      for j = 1, M.MAPPED do
        r[j] = (r[j] - m.median[j]) * m.scale[j] + ref.median[j]
      end
      r[M.CONF] = 1.0 / (1.0 + math.max(r[1], 0.0))
    end
  end
  return graphids.tensor(states, { dtype = split.states.dtype })
end

return M
