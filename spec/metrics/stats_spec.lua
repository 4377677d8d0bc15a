-- stats_spec.lua -- graphids.stats: Cohen's d against its closed form, the percentile bootstrap
-- against distributions small enough to enumerate, determinism, and argument checks; the expected
-- maximum of n draws against every one of the N^n draws and against numpy.
local stats = require "graphids.stats"
local h = require "helpers"

describe("graphids.stats", function()
  it("computes the mean, the sample standard deviation and Cohen's d with the pooled sd", function()
    assert.equal(2, stats.mean({ 1, 2, 3 }))
    assert.equal(1, stats.sd({ 1, 2, 3 }))
    assert.is_nil(stats.sd({ 1 }))
    -- a = {1, 2, 3}, b = {4, 5, 6, 7}: pooled sd sqrt((2 + 5) / 5), d = (2 - 5.5) / that
    h.near(stats.cohens_d({ 1, 2, 3 }, { 4, 5, 6, 7 }), -3.5 / math.sqrt(7 / 5), 1e-12)
    h.near(stats.cohens_d({ 4, 5, 6, 7 }, { 1, 2, 3 }), 3.5 / math.sqrt(7 / 5), 1e-12)
    h.near(stats.cohens_d({ 0.91, 0.93, 0.92 }, { 0.88, 0.9, 0.87 }), 2.8401, 1e-4)
  end)

  it("leaves d undefined without the degrees of freedom, infinite or 0 for a zero sd", function()
    assert.is_nil(stats.cohens_d({ 1 }, { 2 }))
    assert.is_nil(stats.cohens_d({}, { 1, 2 }))
    -- one value in both groups: no spread and no difference, d = 0 (and its interval [0, 0])
    assert.equal(0, stats.cohens_d({ 1, 1 }, { 1, 1 }))
    assert.same({ 0, 0 }, { stats.cohens_d_ci({ 1, 1 }, { 1, 1 }) })
    assert.equal(math.huge, stats.cohens_d({ 2, 2 }, { 1, 1 }))
    assert.equal(-math.huge, stats.cohens_d({ 1, 1 }, { 2 }))
    -- equal values have no spread, even where their mean rounds off them ((0.1 + 0.1 + 0.1) / 3
    -- is 0.10000000000000002): an infinite d, not 3.7e15
    assert.equal(0, stats.sd({ 0.1, 0.1, 0.1 }))
    assert.equal(math.huge, stats.cohens_d({ 0.2, 0.2, 0.2 }, { 0.1, 0.1, 0.1 }))
    assert.equal(0, stats.cohens_d({ 0.1, 0.1, 0.1 }, { 0.1, 0.1, 0.1 }))
  end)

  it("leaves d and its interval undefined where an infinite value leaves no number", function()
    -- inf beside 1 in one group: no standard deviation (inf - inf), so no d, nor an interval
    -- of one (its resamples {inf, inf} and {1, 1} would make one of -inf .. inf)
    assert.is_nil(stats.cohens_d({ math.huge, 1 }, { 1, 2 }))
    assert.is_nil(stats.cohens_d_ci({ math.huge, 1 }, { 1, 2 }))
    assert.is_nil(stats.cohens_d({ math.huge, math.huge }, { math.huge, math.huge })) -- inf - inf
    assert.is_nil(stats.cohens_d_ci({ math.huge, math.huge }, { math.huge, math.huge }))
    -- one infinite value repeated is a value: the difference is infinite
    assert.equal(math.huge, stats.cohens_d({ math.huge, math.huge }, { 1, 2 }))
    assert.equal(-math.huge, stats.cohens_d({ 1, 2 }, { math.huge, math.huge }))
  end)

  it("counts a resample whose groups are one equal value each as no difference, d = 0", function()
    -- a = {1 x5}, b = {1 x4, 0.98}: a resample of a is always {1 x5}, and b's holds 0.98 k times,
    -- k ~ Binomial(5, 1/5); d = 0 for k = 0 (32.8 % of resamples), 0.63, 1.03, 1.55, 2.53 for
    -- k = 1 .. 4 (41.0, 20.5, 5.1, 0.6 %), inf for k = 5.  The central 95 % runs from 0 to the
    -- d of k = 3 (numpy over 400 000 resamples: the percentiles 0 and 1.54919334)
    local a, b = { 1, 1, 1, 1, 1 }, { 1, 1, 1, 1, 0.98 }
    local lo, hi = stats.cohens_d_ci(a, b)
    assert.equal(0, lo)
    h.near(hi, 0.2 * math.sqrt(40) * math.sqrt(3 / 2), 1e-12)
    h.near(hi, stats.cohens_d(a, { 1, 1, 0.98, 0.98, 0.98 }), 1e-12)
    -- three seeds: {1, 1, 1} against {1, 0.99, 1}, d = 0.82, and 8 resamples in 27 of the second
    -- are {1, 1, 1}, no difference: the interval reaches 0
    h.near(stats.cohens_d({ 1, 1, 1 }, { 1, 0.99, 1 }), 0.01 / 3 / math.sqrt(0.01 ^ 2 * 2 / 3 / 4), 1e-9)
    assert.same({ 0, math.huge }, { stats.cohens_d_ci({ 1, 1, 1 }, { 1, 0.99, 1 }) })
  end)

  it("interpolates a bound between an infinite and a finite resample to the infinite one, not NaN", function()
    -- these seeds and resamples put the 2.5th percentile between a -inf d (both groups without
    -- spread, in reverse order) and a finite one
    local lo, hi = stats.cohens_d_ci({ 0.80, 0.70 }, { 0.78, 0.60 }, { seed = 14, resamples = 40 })
    assert.equal(-math.huge, lo)
    assert.equal(math.huge, hi)
  end)

  it("gives the percentile bootstrap interval of the mean", function()
    -- {0, 1}: resampled means 0, 0.5, 1 with chances 1/4, 1/2, 1/4, so the central 95 % runs
    -- from 0 to 1, and the central 40 % is 0.5 alone
    assert.same({ 0, 1 }, { stats.mean_ci({ 0, 1 }) })
    assert.same({ 0.5, 0.5 }, { stats.mean_ci({ 0, 1 }, { level = 0.4 }) })
    assert.same({ 3, 3 }, { stats.mean_ci({ 3 }) })
    assert.is_nil(stats.mean_ci({}))
    -- a large sample: close to mean +- 1.96 sd / sqrt(n)
    local xs = {}
    for i = 1, 400 do xs[i] = (i * 37 % 101) / 100 end
    local lo, hi = stats.mean_ci(xs, { resamples = 4000 })
    local half = 1.96 * stats.sd(xs) / math.sqrt(#xs)
    h.near(lo, stats.mean(xs) - half, 0.02)
    h.near(hi, stats.mean(xs) + half, 0.02)
  end)

  it("gives an infinite bound, not NaN, where resamples with no spread make d infinite", function()
    -- two seeds each: a resample {x, x} of both groups (1 in 4) has d = +inf, past the 97.5th
    -- percentile and the 75th
    local lo, hi = stats.cohens_d_ci({ 0.9, 0.92 }, { 0.8, 0.82 })
    assert.is_true(lo > 0 and lo < math.huge, tostring(lo))
    assert.equal(math.huge, hi)
    assert.equal(math.huge, select(2, stats.cohens_d_ci({ 0.9, 0.92 }, { 0.8, 0.82 }, { level = 0.5 })))
    assert.same({ 1, math.huge }, { stats.mean_ci({ math.huge, 1 }) })
  end)

  it("is deterministic for a seed and moves with it", function()
    local a, b = { 0.91, 0.93, 0.92, 0.95 }, { 0.88, 0.9, 0.87, 0.91 }
    local l1, h1 = stats.cohens_d_ci(a, b)
    local l2, h2 = stats.cohens_d_ci(a, b)
    assert.same({ l1, h1 }, { l2, h2 })
    local l3 = stats.cohens_d_ci(a, b, { seed = 7, resamples = 500 })
    assert.not_equal(l1, l3)
    local d = stats.cohens_d(a, b)
    assert.is_true(l1 < d and d < h1)
    assert.is_nil(stats.cohens_d_ci({ 1 }, { 2 }))
  end)

  -- The best of n draws from xs with replacement, over all #xs^n draws (each as likely): its mean
  -- and (population) standard deviation, with no formula in common with stats.expected_max.
  local function brute_max(xs, n, pick)
    local big, count, sum, sum2 = #xs, 0, 0, 0
    local idx = {}
    for k = 1, n do idx[k] = 1 end
    while true do
      local best = xs[idx[1]]
      for k = 2, n do best = pick(best, xs[idx[k]]) end
      count, sum, sum2 = count + 1, sum + best, sum2 + best * best
      local k = 1
      while k <= n and idx[k] == big do idx[k], k = 1, k + 1 end
      if k > n then break end
      idx[k] = idx[k] + 1
    end
    local mean = sum / count
    return mean, math.sqrt(math.max(0, sum2 / count - mean * mean))
  end

  it("gives the expected maximum of n draws as every draw enumerated says, ties and order aside", function()
    for _, xs in ipairs({ { 0.5 }, { 0.2, 0.7 }, { 0.91, 0.93, 0.92 }, { 3, 1, 3, 2 }, { 0.4, 0.4, 0.4 },
      { -1.5, 2.25, 0, 2.25, -7 } }) do
      local means, stds = stats.expected_max(xs, 5)
      local mins, min_stds = stats.expected_min(xs, 5)
      assert.equal(5, #means)
      assert.equal(5, #mins)
      for n = 1, 5 do
        local m, sd = brute_max(xs, n, math.max)
        h.near(means[n], m, 1e-12, "max " .. table.concat(xs, ",") .. " n=" .. n)
        h.near(stds[n], sd, 1e-7, "max sd " .. table.concat(xs, ",") .. " n=" .. n)
        m, sd = brute_max(xs, n, math.min)
        h.near(mins[n], m, 1e-12, "min " .. table.concat(xs, ",") .. " n=" .. n)
        h.near(min_stds[n], sd, 1e-7, "min sd " .. table.concat(xs, ",") .. " n=" .. n)
      end
    end
    -- one draw is the mean and the population sd; the best of many tends to the largest value
    local xs = { 0.93, 0.88, 0.91 }
    local means, stds = stats.expected_max(xs, 200)
    h.near(means[1], stats.mean(xs), 1e-15)
    h.near(stds[1], stats.sd(xs) * math.sqrt(2 / 3), 1e-15)
    h.near(means[200], 0.93, 1e-12)
    assert.equal(3, #stats.expected_max(xs)) -- n_max defaults to the number of values
    assert.same({ 0.93, 0.88, 0.91 }, xs) -- the caller's list is not sorted in place
  end)

  it("matches numpy's expected maximum, past N draws too", function()
    -- produced once with numpy (spec values to 17 digits):
    --   v = np.sort([0.93, 0.88, 0.93, 0.91, 0.90]); N = 5; i = np.arange(1, N + 1)
    --   w = (i / N) ** n - ((i - 1) / N) ** n;  e = (w * v).sum();  sd = sqrt((w * v * v).sum() - e * e)
    local means, stds = stats.expected_max({ 0.93, 0.88, 0.93, 0.91, 0.90 }, 7)
    h.near(means, { 0.91000000000000003, 0.9204, 0.92488000000000004, 0.92712000000000017,
      0.92833600000000005, 0.92902464000000007, 0.92942348800000008 }, 1e-14)
    -- (numpy's E[max^2] - E[max]^2 cancels: it agrees to about 1e-9 relative)
    h.near(stds, { 0.018973665961010987, 0.013994284547634767, 0.01024624809381173,
      0.0076749983713203535, 0.0058281304034778943, 0.0044566212392757685, 0.0034212211144218694 }, 1e-8)
  end)

  it("checks its arguments", function()
    h.errors("stats.mean_ci: values%[2%] must be a number, got string", stats.mean_ci, { 1, "x" })
    h.errors("stats.mean_ci: values%[2%] must not be NaN", stats.mean_ci, { 0.9, 0 / 0, 0.8 })
    h.errors("stats.cohens_d: a%[2%] must not be NaN", stats.cohens_d, { 0.9, 0 / 0, 0.8 }, { 0.7, 0.6 })
    h.errors("stats.cohens_d_ci: b%[1%] must not be NaN", stats.cohens_d_ci, { 0.9, 0.8 }, { 0 / 0, 0.6 })
    h.errors("stats.mean_ci: level must be a number in %(0, 1%), got 95",
      stats.mean_ci, { 1 }, { level = 95 })
    h.errors("stats.mean_ci: resamples must be a positive integer, got 0",
      stats.mean_ci, { 1 }, { resamples = 0 })
    h.errors("stats.cohens_d_ci: unknown option 'n' %(allowed: level, resamples, seed%)",
      stats.cohens_d_ci, { 1, 2 }, { 3 }, { n = 1 })
    h.errors("stats.cohens_d: b must be a list of numbers, got nil", stats.cohens_d, { 1 })
    h.errors_at_caller("stats.expected_max: values must be a non%-empty list of numbers, got an empty one",
      stats.expected_max, {})
    h.errors_at_caller("stats.expected_max: values must be a non%-empty list of numbers, got string",
      stats.expected_max, "0.9")
    h.errors_at_caller("stats.expected_max: values%[2%] must be a number, got string",
      stats.expected_max, { 1, "2" })
    h.errors_at_caller("stats.expected_min: values%[3%] must be finite, got nan", stats.expected_min,
      { 1, 2, 0 / 0 })
    h.errors_at_caller("stats.expected_max: values%[1%] must be finite, got inf", stats.expected_max,
      { math.huge })
    h.errors_at_caller("stats.expected_max: n_max must be a positive integer, got 0", stats.expected_max,
      { 1 }, 0)
    h.errors_at_caller("stats.expected_min: n_max must be a positive integer, got 2.0", stats.expected_min,
      { 1 }, 2.0)
  end)
end)
