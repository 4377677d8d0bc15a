-- graphids.metrics.intervals -- event-level detection metrics: per attack interval (a maximal
-- run of attack windows that follow each other in one capture), was it flagged, and how many
-- windows late.  Re-exported by graphids.metrics; docs/metrics.md, "Attack intervals".
--
--   local r = metrics.attack_intervals(preds, labels, window_start, source_file)
--   print(r.intervals, r.intervals_detected, r.interval_recall, r.detection_delay_windows)
--   local pooled = metrics.pool_attack_intervals({ r_set1, r_set2 })
--
-- Per-window accuracy counts a late first detection and a missed interval alike as a few wrong
-- windows; an operator asks whether each attack was raised at all and how soon.
local U = require "graphids.nn._util"

local M = {}

local FNAME = "metrics.attack_intervals"
local OPTS = { stride = U.NONE }

-- A detached CPU copy of 1-D integer tensor v as a Lua list, or an error naming the argument.
-- binary: the values must be 0 or 1 (bool allowed); else any integer dtype but bool.
local function values(what, v, n, first, binary)
  if not U.is_tensor(v) then
    error(string.format("%s: %s must be a graphids.Tensor, got %s", FNAME, what, type(v)), 3)
  end
  if #v.shape ~= 1 then
    error(string.format("%s: %s must be 1-D, got %d dims", FNAME, what, #v.shape), 3)
  end
  if U.is_float(v) or (v.dtype == "bool" and not binary) then
    error(string.format("%s: %s must have an integer dtype, got %s", FNAME, what, v.dtype), 3)
  end
  if n ~= nil and v.shape[1] ~= n then
    error(string.format("%s: %s has %d elements, expected %d (one per element of %s)", FNAME, what,
      v.shape[1], n, first), 3)
  end
  if v.detach then v = v:detach() end
  if v.device ~= "cpu" then v = v:to("cpu") end
  local t = (v.dtype == "bool" and v:long() or v):totable()
  if binary then
    for i, x in ipairs(t) do
      if x ~= 0 and x ~= 1 then
        error(string.format("%s: %s[%d] (0-based) = %d is not 0 or 1 (benign or attack)", FNAME, what,
          i - 1, x), 3)
      end
    end
  end
  return t
end

-- The most common positive difference of consecutive window starts within a file (order =
-- window indices sorted by file, then start); the smallest on ties; nil when there is none.
local function infer_stride(order, ws, sf)
  local count, best, best_n = {}, nil, 0
  for k = 2, #order do
    local a, b = order[k - 1], order[k]
    if sf[a] == sf[b] then
      local d = ws[b] - ws[a]
      if d > 0 then
        local c = (count[d] or 0) + 1
        count[d] = c
        if c > best_n or (c == best_n and d < best) then best, best_n = d, c end
      end
    end
  end
  return best
end

-- The result fields from the counts (NaN where undefined: no interval, none detected).
local function summary(intervals, detected, delay_sum, delay_max, alarms)
  return {
    intervals = intervals,
    intervals_detected = detected,
    interval_recall = intervals > 0 and detected / intervals or 0 / 0,
    detection_delay_windows = detected > 0 and delay_sum / detected or 0 / 0,
    detection_delay_windows_max = delay_max or 0 / 0,
    false_alarm_runs = alarms,
  }
end

-- The event-level counts of binary predictions: see docs/metrics.md.  opts.stride: the window
-- stride in frames (a positive integer), else inferred from window_start.
function M.attack_intervals(preds, labels, window_start, source_file, opts)
  local o = U.options(FNAME, opts, OPTS, 2)
  local p = values("preds", preds, nil, nil, true)
  local n = #p
  local y = values("labels", labels, n, "preds", true)
  local ws = values("window_start", window_start, n, "preds", false)
  local sf = values("source_file", source_file, n, "preds", false)
  local stride = o.stride
  if stride ~= nil and (math.type(stride) ~= "integer" or stride < 1) then
    error(string.format("%s: stride must be a positive integer, got %s", FNAME, U.describe(stride)), 2)
  end

  -- the input order is not trusted: windows by (file, start)
  local order = {}
  for i = 1, n do order[i] = i end
  table.sort(order, function(a, b)
    if sf[a] ~= sf[b] then return sf[a] < sf[b] end
    if ws[a] ~= ws[b] then return ws[a] < ws[b] end
    return a < b
  end)
  for k = 2, n do
    local a, b = order[k - 1], order[k]
    if sf[a] == sf[b] and ws[a] == ws[b] then
      -- two predictions of one window: neither intervals nor delays would mean anything
      error(string.format("%s: windows %d and %d (0-based) are both source_file %d, window_start %d",
        FNAME, a - 1, b - 1, sf[a], ws[a]), 2)
    end
  end
  stride = stride or infer_stride(order, ws, sf)

  local intervals, detected, delay_sum, delay_max, alarms = 0, 0, 0, nil, 0
  local pos, flagged -- the current interval's window index (0-based) and whether it was flagged
  local prev
  for _, i in ipairs(order) do
    local follows = prev ~= nil and stride ~= nil and sf[prev] == sf[i] and ws[i] - ws[prev] == stride
    if y[i] == 1 then
      if follows and y[prev] == 1 then
        pos = pos + 1
      else
        intervals, pos, flagged = intervals + 1, 0, false
      end
      if p[i] == 1 and not flagged then
        flagged, detected, delay_sum = true, detected + 1, delay_sum + pos
        delay_max = math.max(delay_max or pos, pos)
      end
    elseif p[i] == 1 and not (follows and y[prev] == 0 and p[prev] == 1) then
      alarms = alarms + 1
    end
    prev = i
  end
  local r = summary(intervals, detected, delay_sum, delay_max, alarms)
  r.stride = stride
  return r
end

-- attack_intervals results of several test sets pooled: the counts summed, the recall of all
-- intervals, the mean delay over every detected interval, the largest delay.  (The sets are
-- pooled here, not by concatenating their windows: source_file numbers the files of one set.)
function M.pool_attack_intervals(results)
  if type(results) ~= "table" or (next(results) ~= nil and results[1] == nil) then
    error("metrics.pool_attack_intervals: results must be a list of attack_intervals results, got " ..
      (type(results) == "table" and "a table without element 1 (keyed by set name?)" or type(results)), 2)
  end
  local intervals, detected, delay_sum, delay_max, alarms = 0, 0, 0, nil, 0
  for i, r in ipairs(results) do
    if type(r) ~= "table" or math.type(r.intervals) ~= "integer" then
      error(string.format("metrics.pool_attack_intervals: results[%d] is not an attack_intervals "
        .. "result", i), 2)
    end
    intervals = intervals + r.intervals
    detected = detected + r.intervals_detected
    alarms = alarms + r.false_alarm_runs
    if r.intervals_detected > 0 then
      -- the delays are whole windows: their sum is exact after rounding
      delay_sum = delay_sum + math.floor(r.detection_delay_windows * r.intervals_detected + 0.5)
      delay_max = math.max(delay_max or r.detection_delay_windows_max, r.detection_delay_windows_max)
    end
  end
  return summary(intervals, detected, delay_sum, delay_max, alarms)
end

return M
