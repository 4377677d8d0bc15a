-- intervals_spec.lua -- graphids.metrics.attack_intervals and pool_attack_intervals on
-- hand-made windows: intervals at file edges and across two files, unsorted input, a gap in the
-- window starts, the stride inferred or given, no attacks, all attacks, false-alarm runs, the
-- detection delays, pooling, and the input errors.
local graphids = require "graphids"
local metrics = require "graphids.metrics"
local helpers = require "helpers"
local errors_at_caller = helpers.errors_at_caller

local function long(t)
  return graphids.tensor(t, { dtype = "i64" })
end

local function is_nan(v)
  return v ~= v
end

-- attack_intervals of Lua lists; starts default to 0, 100, 200, ... and files to 0
local function run(preds, labels, starts, files, opts)
  local n = #preds
  if starts == nil then
    starts = {}
    for i = 1, n do starts[i] = (i - 1) * 100 end
  end
  if files == nil then
    files = {}
    for i = 1, n do files[i] = 0 end
  end
  return metrics.attack_intervals(long(preds), long(labels), long(starts), long(files), opts)
end

local function counts(r)
  return { r.intervals, r.intervals_detected, r.false_alarm_runs }
end

describe("graphids.metrics.attack_intervals", function()
  it("counts intervals at both edges of a file, with each one's delay", function()
    --          attack  attack  benign  attack  attack  attack
    local r = run({ 1, 1, 0, 0, 0, 1 }, { 1, 1, 0, 1, 1, 1 })
    assert.same({ 2, 2, 0 }, counts(r))
    assert.equal(1.0, r.interval_recall)
    assert.equal(1.0, r.detection_delay_windows) -- first flagged at 0 and at 2
    assert.equal(2, r.detection_delay_windows_max)
    assert.equal(100, r.stride)
  end)

  it("never joins an interval across two files, even when the starts follow", function()
    -- file 0 ends with an attack at 200; file 1 starts with one at 300
    local r = run({ 0, 0, 0, 1, 0 }, { 0, 0, 1, 1, 1 }, { 0, 100, 200, 300, 400 }, { 0, 0, 0, 1, 1 })
    assert.same({ 2, 1, 0 }, counts(r))
    assert.equal(0.5, r.interval_recall)
    assert.equal(0.0, r.detection_delay_windows)
    assert.equal(0, r.detection_delay_windows_max)
  end)

  it("sorts by file and window start first: the input order does not matter", function()
    local preds = { 0, 1, 1, 0, 1, 0, 0, 1 }
    local labels = { 0, 1, 1, 1, 0, 0, 1, 1 }
    local starts = { 0, 100, 200, 300, 400, 0, 100, 200 }
    local files = { 3, 3, 3, 3, 3, 7, 7, 7 }
    local want = run(preds, labels, starts, files)
    assert.same({ 2, 2, 1 }, counts(want))
    assert.equal(0.5, want.detection_delay_windows) -- 0 in file 3, 1 in file 7
    local order = { 8, 3, 6, 1, 5, 2, 7, 4 }
    local p, y, s, f = {}, {}, {}, {}
    for i, j in ipairs(order) do p[i], y[i], s[i], f[i] = preds[j], labels[j], starts[j], files[j] end
    assert.same(want, run(p, y, s, f))
  end)

  it("splits an interval at a gap in the window starts", function()
    -- 0, 100, 200 follow each other (stride 100); 400 does not follow 200
    local r = run({ 1, 0, 0, 0 }, { 1, 1, 1, 1 }, { 0, 100, 200, 400 })
    assert.same({ 2, 1, 0 }, counts(r))
    assert.equal(100, r.stride)
    -- a benign run split the same way is two false alarms
    local a = run({ 1, 1, 1, 1 }, { 0, 0, 0, 0 }, { 0, 100, 200, 400 })
    assert.same({ 0, 0, 2 }, counts(a))
  end)

  it("infers the stride as the most common step (the smallest on ties), or takes it given", function()
    -- steps 50, 50, 100: stride 50, so 100 -> 200 is a gap
    local r = run({ 1, 0, 0, 1 }, { 1, 1, 1, 1 }, { 0, 50, 100, 200 })
    assert.equal(50, r.stride)
    assert.same({ 2, 2, 0 }, counts(r))
    -- steps 50 and 100 once each: 50
    assert.equal(50, run({ 0, 0, 0 }, { 0, 0, 0 }, { 0, 50, 150 }).stride)
    -- given: windows 100 apart do not follow at stride 50
    local g = run({ 1, 1 }, { 1, 1 }, { 0, 100 }, nil, { stride = 50 })
    assert.equal(50, g.stride)
    assert.same({ 2, 2, 0 }, counts(g))
    assert.same({ 1, 1, 0 }, counts(run({ 1, 1 }, { 1, 1 }, { 0, 100 }, nil, { stride = 100 })))
  end)

  it("lets each window stand alone when no stride can be inferred", function()
    -- every file one window: nothing follows anything
    local r = run({ 1, 0, 1, 1 }, { 1, 1, 0, 0 }, { 0, 100, 200, 300 }, { 0, 1, 2, 3 })
    assert.is_nil(r.stride)
    assert.same({ 2, 1, 2 }, counts(r))
  end)

  it("gives NaN recall and delay without an attack interval, and still counts false alarms", function()
    local r = run({ 0, 1, 1, 0, 1, 0 }, { 0, 0, 0, 0, 0, 0 })
    assert.same({ 0, 0, 2 }, counts(r))
    assert.is_true(is_nan(r.interval_recall))
    assert.is_true(is_nan(r.detection_delay_windows))
    assert.is_true(is_nan(r.detection_delay_windows_max))
    -- no window at all
    local e = run({}, {})
    assert.same({ 0, 0, 0 }, counts(e))
    assert.is_true(is_nan(e.interval_recall))
  end)

  it("reads a capture of attacks only as one interval; a missed one has no delay", function()
    local r = run({ 0, 0, 0, 1, 1 }, { 1, 1, 1, 1, 1 })
    assert.same({ 1, 1, 0 }, counts(r))
    assert.equal(3.0, r.detection_delay_windows)
    assert.equal(3, r.detection_delay_windows_max)
    local m = run({ 0, 0, 0 }, { 1, 1, 1 })
    assert.same({ 1, 0, 0 }, counts(m))
    assert.equal(0.0, m.interval_recall)
    assert.is_true(is_nan(m.detection_delay_windows))
  end)

  it("counts a false-alarm run as one, however long, and an attack window between splits it", function()
    -- benign 1 1 1 | attack | benign 1 | benign 0 | benign 1 1
    local r = run({ 1, 1, 1, 1, 1, 0, 1, 1 }, { 0, 0, 0, 1, 0, 0, 0, 0 })
    assert.same({ 1, 1, 3 }, counts(r))
  end)

  it("takes bool and other integer dtypes", function()
    local p = graphids.tensor({ 1, 0, 1 }, { dtype = "i32" }):ge(1)
    local r = metrics.attack_intervals(p, graphids.tensor({ 1, 1, 0 }, { dtype = "i32" }),
      graphids.tensor({ 0, 100, 200 }, { dtype = "i32" }), long({ 0, 0, 0 }))
    assert.same({ 1, 1, 1 }, counts(r))
  end)

  it("names the argument that is wrong", function()
    local function fails(pattern, ...)
      errors_at_caller("metrics%.attack_intervals: " .. pattern, metrics.attack_intervals, ...)
    end
    local b = long({ 0, 1 })
    local s, z = long({ 0, 100 }), long({ 0, 0 })
    fails("labels has 3 elements, expected 2 %(one per element of preds%)", b, long({ 0, 1, 1 }), s, z)
    fails("source_file has 1 elements, expected 2", b, b, s, long({ 0 }))
    fails("window_start must have an integer dtype, got f32", b, b,
      graphids.tensor({ 0, 100 }, { dtype = "f32" }), z)
    fails("window_start must have an integer dtype, got bool", b, b, b:ge(1), z)
    fails("preds must be 1%-D, got 2 dims", long({ { 0, 1 } }), b, s, z)
    fails("preds must be a graphids.Tensor, got table", { 0, 1 }, b, s, z)
    fails("labels%[1%] %(0%-based%) = 2 is not 0 or 1", b, long({ 0, 2 }), s, z)
    fails("preds%[0%] %(0%-based%) = %-1 is not 0 or 1", long({ -1, 0 }), b, s, z)
    fails("windows 0 and 1 %(0%-based%) are both source_file 0, window_start 100", b, b,
      long({ 100, 100 }), z)
    fails("stride must be a positive integer, got 0", b, b, s, z, { stride = 0 })
    fails("unknown option 'strid' %(did you mean 'stride'%?%)", b, b, s, z, { strid = 100 })
  end)
end)

describe("graphids.metrics.pool_attack_intervals", function()
  it("sums the counts and takes the recall and mean delay over every interval", function()
    local a = run({ 1, 0, 0, 1, 1 }, { 1, 0, 1, 1, 1 }) -- delays 0, 1
    local b = run({ 0, 0, 0, 1, 1, 0 }, { 1, 1, 1, 1, 0, 1 }) -- delay 3, one missed, one alarm
    local none = run({ 1 }, { 0 })
    local p = metrics.pool_attack_intervals({ a, b, none })
    assert.same({ 4, 3, 2 }, counts(p))
    assert.equal(3 / 4, p.interval_recall)
    assert.equal(4 / 3, p.detection_delay_windows)
    assert.equal(3, p.detection_delay_windows_max)
    local empty = metrics.pool_attack_intervals({ none })
    assert.same({ 0, 0, 1 }, counts(empty))
    assert.is_true(is_nan(empty.interval_recall) and is_nan(empty.detection_delay_windows_max))
    errors_at_caller("metrics.pool_attack_intervals: results%[2%] is not an attack_intervals result",
      metrics.pool_attack_intervals, { a, { intervals = 1.5 } })
    -- results keyed by set name (as a stage keeps its outputs) are not an empty pool
    errors_at_caller("metrics.pool_attack_intervals: results must be a list of attack_intervals results, "
      .. "got a table without element 1 %(keyed by set name%?%)", metrics.pool_attack_intervals, { s1 = a })
    assert.equal(0, metrics.pool_attack_intervals({}).intervals)
  end)
end)
