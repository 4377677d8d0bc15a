-- graphids.track.traces: the traces.jsonl format, nested spans, errors recorded before they
-- propagate, the no-op tracer.
local fixture = require "track.support.fixture"
local json = require "graphids.json"
local traces = require "graphids.track.traces"

local function lines(path)
  local out = {}
  for l in io.lines(path) do out[#out + 1] = json.decode(l) end
  return out
end

describe("graphids.track.traces", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("writes one JSON object per line with an ISO-8601 UTC microsecond ts, level and event", function()
    local tr = traces.open(dir .. "/run", { fields = { stage = "fit" } })
    tr:event("resumed_from_checkpoint", { path = "c.safetensors", epoch = 3 })
    tr:warning("slow", { seconds = 1.5, bad = 0 / 0 })
    local recs = lines(dir .. "/run/traces.jsonl")
    assert.equal(2, #recs)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$", recs[1].ts)
    assert.same({ "info", "resumed_from_checkpoint", "c.safetensors", 3, "fit" },
      { recs[1].level, recs[1].event, recs[1].path, recs[1].epoch, recs[1].stage })
    assert.equal("warning", recs[2].level)
    assert.equal("NaN", recs[2].bad) -- strict JSON has no NaN
    assert.is_nil(recs[1].parent_id)
    -- keys are sorted in the line (graphids.json), so the text is stable
    local f = io.open(dir .. "/run/traces.jsonl")
    local first = f:read("l")
    f:close()
    assert.matches('^{"epoch":3,"event":"resumed_from_checkpoint","level":"info"', first)
  end)

  it("starts its first line on a line of its own after a file whose last line was cut", function()
    assert(os.execute("mkdir -p " .. dir .. "/cut"))
    local f = assert(io.open(dir .. "/cut/traces.jsonl", "wb"))
    f:write('{"event":"a","level":"info"}\n{"event":"b","lev')
    f:close()
    local tr = traces.open(dir .. "/cut")
    tr:event("c")
    tr:event("d")
    local text = assert(io.open(dir .. "/cut/traces.jsonl", "rb")):read("a")
    local got = {}
    for line in text:gmatch("[^\n]+") do got[#got + 1] = line end
    assert.equal(4, #got)
    assert.equal('{"event":"b","lev', got[2]) -- the broken line stays as it was, alone
    assert.matches('"event":"c"', got[3])
    assert.matches('"event":"d"', got[4])
    assert.equal("\n", text:sub(-1))
  end)

  it("keeps JSON array/object marks and stringifies other values", function()
    local v = traces.plain({ a = json.array(), o = json.object(), n = json.null, f = print,
      x = { 1, 0 / 0 } })
    assert.equal('{"a":[],"f":"' .. tostring(print) .. '","n":null,"o":{},"x":[1,"NaN"]}', json.encode(v))
  end)

  it("keeps a record whose strings are not UTF-8, their bytes escaped, and one with a field JSON cannot " ..
    "hold, without that field", function()
    local tr = traces.open(dir .. "/run", { fields = { stage = "gat" } })
    -- (a reviewer's repro: a CAN message cut mid-character lost the stage_failed event, stage,
    -- phase and reason, to a bare trace_encode_failed)
    local err = "t.csv:1:12: attack must be 0 or 1, got 'wahrend\xC3...'"
    tr:error("stage_failed", { phase = "fit", error = err, ["k\xE9y"] = { "v\xFF" } })
    tr:event("odd", { ok = 1, mixed = { 1, x = 2 } })
    local recs = lines(dir .. "/run/traces.jsonl")
    assert.same({ "stage_failed", "error", "gat", "fit", "t.csv:1:12: attack must be 0 or 1, got " ..
      "'wahrend\\xC3...'" }, { recs[1].event, recs[1].level, recs[1].stage, recs[1].phase, recs[1].error })
    assert.same({ "v\\xFF" }, recs[1]["k\\xE9y"])
    assert.same({ "odd", 1 }, { recs[2].event, recs[2].ok })
    assert.is_nil(recs[2].mixed)
    assert.equal("left out mixed: json.encode: $.mixed: table mixes string keys with other keys",
      recs[2].trace_encode_error)
  end)

  it("keeps a record with a key that is no string, without that key, and names it", function()
    -- (a reviewer's repro: a number key made the record itself a mixed table; no field failed
    -- alone, so the line became a bare trace_encode_failed)
    local tr = traces.open(dir .. "/run", { fields = { stage = "gat" } })
    tr:event("a_number_key", { [1] = "first", reason = "boom" })
    tr:event("a_boolean_key", { [true] = "yes", reason = "bang" })
    local recs = lines(dir .. "/run/traces.jsonl")
    assert.same({ "a_number_key", "gat", "boom" }, { recs[1].event, recs[1].stage, recs[1].reason })
    assert.equal("left out [1]: json.encode: $: table mixes string keys with other keys",
      recs[1].trace_encode_error)
    assert.same({ "a_boolean_key", "gat", "bang" }, { recs[2].event, recs[2].stage, recs[2].reason })
    assert.equal("left out [true]: json.encode: $: table mixes string keys with other keys",
      recs[2].trace_encode_error)
  end)

  it("formats times as UTC with microseconds", function()
    assert.equal("2024-03-09T16:00:00.000001Z", traces.iso_time(1710000000.000001))
    assert.equal("1970-01-01T00:00:01.000000Z", traces.iso_time(0.9999999))
  end)

  it("nests spans: start and end lines with ids, parent ids, duration and status", function()
    local tr = traces.open(dir)
    local v = tr:span("stage", { stage = "train" }, function()
      tr:event("inside")
      return tr:span("fit", nil, function(a, b) return a + b, "x" end, 2, 3)
    end)
    assert.equal(5, v)
    local r = lines(dir .. "/traces.jsonl")
    assert.equal(5, #r)
    assert.same({ "span_start", "inside", "span_start", "span_end", "span_end" },
      { r[1].event, r[2].event, r[3].event, r[4].event, r[5].event })
    local stage_start, inside, fit_start, fit_end, stage_end = r[1], r[2], r[3], r[4], r[5]
    assert.equal("stage", stage_start.span)
    assert.equal("train", stage_start.stage)
    assert.matches("^%x+$", stage_start.span_id)
    assert.equal(stage_start.span_id, inside.parent_id)
    assert.equal(stage_start.span_id, fit_start.parent_id)
    assert.equal(fit_start.span_id, fit_end.span_id)
    assert.not_equal(fit_start.span_id, stage_start.span_id)
    assert.equal("ok", fit_end.status)
    assert.equal("ok", stage_end.status)
    assert.is_true(stage_end.duration_ms >= fit_end.duration_ms and fit_end.duration_ms >= 0)
    assert.is_nil(stage_end.parent_id)
  end)

  it("records an error with its message before re-raising it unchanged", function()
    local tr = traces.open(dir)
    local obj = { "not a string" }
    local ok, err = pcall(tr.span, tr, "test", nil, function() error("disk on fire", 0) end)
    assert.is_false(ok)
    assert.equal("disk on fire", err)
    local ok2, err2 = pcall(tr.span, tr, "predict", nil, function() error(obj) end)
    assert.is_false(ok2)
    assert.equal(obj, err2) -- the same error object propagates
    local r = lines(dir .. "/traces.jsonl")
    assert.equal("span_end", r[2].event)
    assert.same({ "error", "error", "disk on fire" }, { r[2].status, r[2].level, r[2].error })
    assert.equal("error", r[4].status)
    -- the stack is clean again: a new span is top level
    tr:span("after", nil, function() end)
    assert.is_nil(lines(dir .. "/traces.jsonl")[5].parent_id)
  end)

  it("closes spans left open inside a finished span as errors", function()
    local tr = traces.open(dir)
    local outer = tr:start_span("outer")
    tr:start_span("inner")
    outer:finish("ok")
    outer:finish("ok") -- twice is a no-op
    local r = lines(dir .. "/traces.jsonl")
    assert.equal(4, #r)
    assert.same({ "inner", "error" }, { r[3].span, r[3].status })
    assert.matches("enclosing span 'outer'", r[3].error)
    assert.same({ "outer", "ok" }, { r[4].span, r[4].status })
  end)

  it("is a no-op without a run dir, still running the function and raising its errors", function()
    local tr = traces.open(nil)
    assert.is_false(tr:enabled())
    tr:event("x")
    assert.equal(7, tr:span("s", nil, function() return 7 end))
    assert.has_error(function() tr:span("s", nil, function() error("boom", 0) end) end, "boom")
  end)

  it("warns once and never raises when the file cannot be written", function()
    local tr = traces.open(nil, { path = dir .. "/missing/dir/traces.jsonl" })
    local text = fixture.stderr_of(function()
      tr:event("a")
      tr:event("b")
    end)
    assert.matches("cannot write trace", text)
    local _, n = text:gsub("cannot write trace", "")
    assert.equal(1, n)
  end)

  it("refuses unknown options and a bad run dir", function()
    assert.has_error(function() traces.open(dir, { colour = 1 }) end,
      "traces.open: unknown option 'colour' (allowed: fields, path)")
    assert.has_error(function() traces.open(42) end)
  end)
end)
