-- graphids.stats -- small-sample statistics for comparing runs across seeds: the mean and sample
-- standard deviation, percentile bootstrap confidence intervals, and Cohen's d with a bootstrap
-- interval.  The reference's comparison reported "Cohen's d with bootstrap CIs, no p-values" over
-- three seeds; `graphids runs compare` shows them (docs/orchestration.md).
--
--   local stats = require "graphids.stats"
--   stats.mean_ci({ 0.91, 0.93, 0.92 })              --> 0.91, 0.93   (95 %, 10 000 resamples)
--   stats.cohens_d({ 0.91, 0.93, 0.92 }, { 0.88, 0.9, 0.87 })          --> 2.84
--   stats.cohens_d_ci(a, b, { level = 0.9 })         --> lo, hi
--   local means, stds = stats.expected_max({ 0.91, 0.93, 0.92 })
--     --> { 0.92, 0.92444, 0.92667 }, { 0.00816, 0.00685, 0.00544 }   (n = 1, 2, 3)
--
-- Resampling draws from its own splitmix64 stream (opts.seed, default 0), so an interval is the
-- same on every run and every machine, whatever the global generators hold.
--
-- Expected maximum performance (Dodge et al. 2019, "Show Your Work"): expected_max(values,
-- n_max) returns two lists indexed by n = 1 .. n_max (default #values): means[n], the expected
-- best of n values drawn with replacement from `values` (a variant's seeds' scores), and
-- stds[n], the standard deviation of that best.  expected_min is the same for a metric whose
-- lowest value is best (a loss).  It is exact, not resampled: with v(1) <= ... <= v(N) sorted,
-- the best of n draws is v(i) with chance (i/N)^n - ((i-1)/N)^n.
local M = {}

local function check_values(fname, what, xs)
  if type(xs) ~= "table" then
    error(string.format("%s: %s must be a list of numbers, got %s", fname, what, type(xs)), 3)
  end
  for i = 1, #xs do
    local x = xs[i]
    if type(x) ~= "number" then
      error(string.format("%s: %s[%d] must be a number, got %s", fname, what, i, type(x)), 3)
    end
    -- (a NaN would leave the resamples that happen to miss it to make a finite interval; an
    -- infinite value, a diverged seed's loss, keeps its meaning: an infinite mean or bound)
    if x ~= x then
      error(string.format("%s: %s[%d] must not be NaN (an undefined value has no interval)", fname, what,
        i), 3)
    end
  end
end

local function check_opts(fname, opts)
  opts = opts or {}
  if type(opts) ~= "table" then error(string.format("%s: opts must be a table", fname), 3) end
  for k in pairs(opts) do
    if k ~= "level" and k ~= "resamples" and k ~= "seed" then
      error(string.format("%s: unknown option '%s' (allowed: level, resamples, seed)", fname, tostring(k)), 3)
    end
  end
  local level, b, seed = opts.level or 0.95, opts.resamples or 10000, opts.seed or 0
  if type(level) ~= "number" or not (level > 0 and level < 1) then
    error(string.format("%s: level must be a number in (0, 1), got %s", fname, tostring(level)), 3)
  end
  if math.type(b) ~= "integer" or b < 1 then
    error(string.format("%s: resamples must be a positive integer, got %s", fname, tostring(b)), 3)
  end
  if math.type(seed) ~= "integer" then
    error(string.format("%s: seed must be an integer, got %s", fname, tostring(seed)), 3)
  end
  return level, b, seed
end

function M.mean(xs)
  local s = 0
  for i = 1, #xs do s = s + xs[i] end
  return s / #xs
end

-- The sum of squared deviations of xs from their mean m: exactly 0 when every value is the
-- same.  The mean of equal values can round off them ((0.1 + 0.1 + 0.1) / 3 is
-- 0.10000000000000002), which left a spread of 1.7e-17 where there is none, and a Cohen's d of
-- 3.7e15 where it is infinite.
local function sum_sq(xs, m)
  local ss, same = 0, true
  for i = 1, #xs do
    ss = ss + (xs[i] - m) ^ 2
    same = same and xs[i] == xs[1]
  end
  return same and 0 or ss
end

-- The sample standard deviation (n - 1 in the denominator); nil for fewer than two values
-- (undefined, as numpy's ddof=1 NaN), 0 for equal values.
function M.sd(xs)
  local n = #xs
  if n < 2 then return nil end
  return math.sqrt(sum_sq(xs, M.mean(xs)) / (n - 1))
end

-- A resampler on a splitmix64 stream: resample(xs, out) fills out[1 .. #xs] with #xs draws from xs
-- with replacement, each index a uniform integer in [1, #xs] (the modulo bias at n of a few
-- seeds is below 2^-60).  (The stream is stepped inline, not by a call per draw: the bootstrap
-- makes 10 000 resamples a row.)
local function resampler(seed)
  local state = seed
  return function(xs, out)
    local n = #xs
    for i = 1, n do
      state = state + 0x9E3779B97F4A7C15
      local z = state
      z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
      z = (z ~ (z >> 27)) * 0x94D049BB133111EB
      z = z ~ (z >> 31)
      out[i] = xs[(z >> 1) % n + 1]
    end
    return out
  end
end

-- The p-quantile of the sorted list s, interpolated linearly between neighbours (numpy's
-- default).  Equal neighbours, or a position on one, give that value, and a position between an
-- infinite neighbour and a finite one gives the infinite one (the limit of the interpolation):
-- an infinite d (a resample with no spread) would otherwise interpolate to inf - inf or
-- 0 * inf, NaN.
local function quantile(s, p)
  local pos = p * (#s - 1) + 1
  local lo = math.floor(pos)
  local hi = math.min(lo + 1, #s)
  local a, b = s[lo], s[hi]
  if pos == lo or b == a then return a end
  if a == -math.huge or b == math.huge then return a == -math.huge and a or b end
  return a + (pos - lo) * (b - a)
end

-- The central `level` interval of the bootstrap distribution of stat(a', b'), a' and b' the
-- resamples of a and b (b' nil when b is), drawn in that order from one stream: nil when every
-- resample's statistic is undefined (nil or NaN).  The caller checked the lists once: stat,
-- called once a resample, checks nothing.
local function percentile_interval(stat, a, b, level, nres, seed)
  local resample = resampler(seed)
  local ra, rb = {}, b and {} or nil
  local vals, m = {}, 0
  for _ = 1, nres do
    resample(a, ra)
    if b then resample(b, rb) end
    local v = stat(ra, rb)
    if v ~= nil and v == v then
      m = m + 1
      vals[m] = v
    end
  end
  if m == 0 then return nil end
  table.sort(vals)
  local tail = (1 - level) / 2
  return quantile(vals, tail), quantile(vals, 1 - tail)
end

-- lo, hi: the percentile bootstrap interval of the mean of xs (nil for an empty list; a single
-- value is its own interval).
function M.mean_ci(xs, opts)
  check_values("stats.mean_ci", "values", xs)
  local level, b, seed = check_opts("stats.mean_ci", opts)
  if #xs == 0 then return nil end
  return percentile_interval(M.mean, xs, nil, level, b, seed)
end

-- Cohen's d of a against b: (mean(a) - mean(b)) / s, s the pooled standard deviation
-- sqrt(((na - 1) sa^2 + (nb - 1) sb^2) / (na + nb - 2)).  When s = 0 (each group holds one value
-- repeated) it is 0 for equal means, no difference, and +-inf for unequal ones, a difference
-- with no spread to measure it by.  nil when it is undefined: fewer than three values in all, or
-- an infinite value that leaves no number (beside other values in its group, which makes s NaN,
-- or in both groups at once, inf - inf).  Unchecked: the bootstrap calls it once a resample.
local function d_of(a, b)
  local na, nb = #a, #b
  if na == 0 or nb == 0 or na + nb < 3 then return nil end
  local ma, mb = M.mean(a), M.mean(b)
  local s = math.sqrt((sum_sq(a, ma) + sum_sq(b, mb)) / (na + nb - 2))
  local diff = ma - mb
  local d = diff / s
  if s == 0 and diff == 0 then d = 0 end
  if d ~= d then return nil end
  return d
end

function M.cohens_d(a, b)
  check_values("stats.cohens_d", "a", a)
  check_values("stats.cohens_d", "b", b)
  return d_of(a, b)
end

-- lo, hi: the percentile bootstrap interval of Cohen's d, each group resampled on its own; nil
-- where d itself is undefined.  Every resample counts: one whose groups came out as one equal
-- value each has d = 0, or +-inf for two values (as cohens_d says), so seeds that mostly agree
-- with the best's give an interval that reaches 0.  (None is undefined where d is not: a
-- resample holds only values of its group.)
function M.cohens_d_ci(a, b, opts)
  check_values("stats.cohens_d_ci", "a", a)
  check_values("stats.cohens_d_ci", "b", b)
  local level, nres, seed = check_opts("stats.cohens_d_ci", opts)
  if d_of(a, b) == nil then return nil end
  return percentile_interval(d_of, a, b, level, nres, seed)
end

-- The values as expected_max takes them: a non-empty list of finite numbers, sorted (a copy).
local function finite_sorted(fname, xs)
  if type(xs) ~= "table" then
    error(string.format("%s: values must be a non-empty list of numbers, got %s", fname, type(xs)), 3)
  end
  if #xs == 0 then
    error(string.format("%s: values must be a non-empty list of numbers, got an empty one", fname), 3)
  end
  local s = {}
  for i = 1, #xs do
    local v = xs[i]
    if type(v) ~= "number" then
      error(string.format("%s: values[%d] must be a number, got %s", fname, i, type(v)), 3)
    end
    if v ~= v or v == math.huge or v == -math.huge then
      local what = v ~= v and "nan" or tostring(v) -- (tostring may write NaN as "-nan")
      error(string.format("%s: values[%d] must be finite, got %s", fname, i, what), 3)
    end
    s[i] = v
  end
  table.sort(s)
  return s
end

local function check_n_max(fname, n_max, n)
  if n_max == nil then return n end
  if math.type(n_max) ~= "integer" or n_max < 1 then
    error(string.format("%s: n_max must be a positive integer, got %s", fname, tostring(n_max)), 3)
  end
  return n_max
end

-- means, stds of the best of n draws for n = 1 .. n_max from the sorted list s.  The variance
-- is taken about the mean (sum of w_i (v_i - E)^2), not as E[max^2] - E[max]^2, which cancels
-- to a small negative number for close scores.
local function expected_max_sorted(s, n_max)
  local big, means, stds = #s, {}, {}
  for n = 1, n_max do
    local w, prev = {}, 0
    for i = 1, big do
      local c = (i / big) ^ n
      w[i], prev = c - prev, c
    end
    local e = 0
    for i = 1, big do e = e + w[i] * s[i] end
    local var = 0
    for i = 1, big do var = var + w[i] * (s[i] - e) ^ 2 end
    means[n], stds[n] = e, math.sqrt(var)
  end
  return means, stds
end

function M.expected_max(values, n_max)
  local s = finite_sorted("stats.expected_max", values)
  return expected_max_sorted(s, check_n_max("stats.expected_max", n_max, #s))
end

-- The expected best of n when lower is better: the expected maximum of the negated values,
-- negated (the spread is the same).
function M.expected_min(values, n_max)
  local s = finite_sorted("stats.expected_min", values)
  local neg = {}
  for i = 1, #s do neg[i] = -s[#s + 1 - i] end
  local means, stds = expected_max_sorted(neg, check_n_max("stats.expected_min", n_max, #s))
  for n = 1, #means do means[n] = -means[n] end
  return means, stds
end

return M
