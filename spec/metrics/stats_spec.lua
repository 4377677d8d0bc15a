-- stats_spec.lua -- graphids.stats: Cohen's d against its closed form, the percentile bootstrap
-- against distributions small enough to enumerate, determinism, and argument checks.
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

  it("leaves d undefined without the degrees of freedom, infinite for a zero sd", function()
    assert.is_nil(stats.cohens_d({ 1 }, { 2 }))
    assert.is_nil(stats.cohens_d({}, { 1, 2 }))
    assert.is_nil(stats.cohens_d({ 1, 1 }, { 1, 1 }))
    assert.equal(math.huge, stats.cohens_d({ 2, 2 }, { 1, 1 }))
    assert.equal(-math.huge, stats.cohens_d({ 1, 1 }, { 2 }))
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

  it("checks its arguments", function()
    h.errors("stats.mean_ci: values%[2%] must be a number, got string", stats.mean_ci, { 1, "x" })
    h.errors("stats.mean_ci: level must be a number in %(0, 1%), got 95",
      stats.mean_ci, { 1 }, { level = 95 })
    h.errors("stats.mean_ci: resamples must be a positive integer, got 0",
      stats.mean_ci, { 1 }, { resamples = 0 })
    h.errors("stats.cohens_d_ci: unknown option 'n' %(allowed: level, resamples, seed%)",
      stats.cohens_d_ci, { 1, 2 }, { 3 }, { n = 1 })
    h.errors("stats.cohens_d: b must be a list of numbers, got nil", stats.cohens_d, { 1 })
  end)
end)
