-- graphids.orchestrate.state_calibration: per-capture mapping of the anomaly detector's columns
-- of the fusion states onto the training captures' scale.
local graphids = require "graphids"
local SC = require "graphids.orchestrate.state_calibration"

-- A split of n windows per file: column j of window k of file f is base[f] + k * step[f] (j
-- scaled by j), the GAT block a marker value; window starts in reverse row order so the
-- calibration windows are not simply the first rows.
local function split(files, n, view)
  local states, ws, sf, iv = {}, {}, {}, {}
  for f, spec in ipairs(files) do
    for k = n, 1, -1 do
      local row = {}
      for j = 1, 15 do
        row[j] = j <= 7 and (spec.base + k * spec.step) * j or (j == 8 and 0.5 or 100 + j)
      end
      states[#states + 1] = row
      ws[#ws + 1] = k * 100
      sf[#sf + 1] = f - 1
      iv[#iv + 1] = view or 0
    end
  end
  return {
    states = graphids.tensor(states),
    window_start = graphids.tensor(ws, { dtype = "i64" }),
    source_file = graphids.tensor(sf, { dtype = "i64" }),
    id_view = graphids.tensor(iv, { dtype = "i64" }),
  }
end

-- Column j's values of the rows of file f (0-based) whose window start is at most `upto`.
local function column(s, out, f, j, upto)
  local v = {}
  local st, ws, sf = out:totable(), s.window_start:totable(), s.source_file:totable()
  for i = 1, #st do
    if sf[i] == f and ws[i] <= upto then v[#v + 1] = st[i][j] end
  end
  table.sort(v)
  return v
end

describe("state_calibration", function()
  it("maps each file's first windows onto the training files' median and spread", function()
    local train = split({ { base = 1, step = 0.1 } }, 20)
    local ref = SC.reference(train, 0.5) -- windows 1..10: values (1.1 .. 2.0) * j
    assert.near(1.55, ref.median[1], 1e-6)
    assert.near(0.45, ref.iqr[1], 1e-6)
    assert.near(1.55 * 3, ref.median[3], 1e-6)
    -- a test capture on another scale: ten times the values, shifted
    local test = split({ { base = 50, step = 1.0 }, { base = 2, step = 0.1 } }, 20)
    local out = SC.apply(test, ref, 0.5)
    for f = 0, 1 do
      for _, j in ipairs({ 1, 4, 7 }) do
        local first = column(test, out, f, j, 1000) -- the calibration windows (starts 100..1000)
        assert.near(ref.median[j], (first[5] + first[6]) / 2, 1e-4 * j)
      end
    end
    -- linear per file: the later windows keep their order and spacing
    local all = column(test, out, 0, 1, math.huge)
    for i = 2, #all do
      assert.near(all[2] - all[1], all[i] - all[i - 1], 1e-4)
    end
    -- confidence recomputed from the mapped error; the GAT block untouched
    local rows, src = out:totable(), test.states:totable()
    for i, r in ipairs(rows) do
      assert.near(1 / (1 + math.max(r[1], 0)), r[8], 1e-6)
      for j = 9, 15 do
        assert.equal(src[i][j], r[j])
      end
    end
  end)

  it("takes the reference from the states as captured, not the unknown-id view", function()
    local captured = split({ { base = 1, step = 0.1 } }, 10, 0)
    local unknown = split({ { base = 100, step = 1 } }, 10, 1)
    local both = {}
    for _, k in ipairs({ "states", "window_start", "source_file", "id_view" }) do
      both[k] = graphids.cat({ captured[k], unknown[k] }, 1)
    end
    local ref = SC.reference(both, 1.0)
    assert.same(SC.reference(captured, 1.0), ref)
    -- and the unknown view of a file is calibrated on its own windows, not the captured ones
    local out = SC.apply(both, ref, 1.0):totable()
    local v = {}
    for i = 11, 20 do v[#v + 1] = out[i][1] end
    table.sort(v)
    assert.near(ref.median[1], (v[5] + v[6]) / 2, 1e-4)
  end)

  it("maps the val windows of a training capture as that capture's train windows", function()
    -- files 0 and 1: 50 windows each of two training captures on other scales (so that neither
    -- is the pooled scale), every fifth window held out for val (10 windows per file); file 2:
    -- a capture val has and train lacks (a max_train sample left it out)
    local all = split({ { base = 1, step = 0.1 }, { base = 4, step = 0.5 } }, 50)
    local function rows(t, keep)
      local idx = {}
      for i = 1, t.states:size(1) do
        if keep(i) then idx[#idx + 1] = i - 1 end
      end
      local ix = graphids.tensor(idx, { dtype = "i64" })
      local out = {}
      for _, k in ipairs({ "states", "window_start", "source_file", "id_view" }) do
        out[k] = t[k]:index_select(1, ix)
      end
      return out
    end
    local train = rows(all, function(i) return i % 5 ~= 0 end)
    local val = rows(all, function(i) return i % 5 == 0 end)
    local other = split({ { base = 7, step = 2 } }, 10)
    other.source_file:fill_(2)
    for _, k in ipairs({ "states", "window_start", "source_file", "id_view" }) do
      val[k] = graphids.cat({ val[k], other[k] }, 1)
    end
    local ref, maps = SC.reference(train, 0.1)
    -- each val window of files 0 and 1 is mapped as if it were in train: as the whole capture's
    -- mapping puts it (the train group's), not by its own first window (ceil(0.1 x 10) = 1,
    -- an interquartile range of 0)
    local whole = SC.apply(all, ref, 0.1, maps):totable()
    local got = SC.apply(val, ref, 0.1, maps):totable()
    local alone = SC.apply(val, ref, 0.1):totable()
    local src = val.states:totable()
    for i = 1, 20 do
      -- (row i of val is row 5i of all)
      for j = 1, 8 do
        assert.near(whole[5 * i][j], got[i][j], 1e-5)
      end
      assert.is_true(math.abs(got[i][1] - src[i][1]) > 1e-3, "mapped")
      assert.is_true(math.abs(got[i][2] - alone[i][2]) > 1e-3, "not as calibrated alone")
    end
    -- the train group's mapping is the one apply gives train itself
    assert.same(SC.apply(train, ref, 0.1):totable(), SC.apply(train, ref, 0.1, maps):totable())
    -- file 1, which train lacks, is calibrated on its own first window
    local own = SC.apply(other, ref, 0.1):totable()
    for i = 1, 10 do
      assert.same(own[i], got[20 + i])
    end
  end)

  it("only shifts a column without spread", function()
    local flat = split({ { base = 3, step = 0 } }, 10)
    local ref = SC.reference(split({ { base = 1, step = 0.1 } }, 10), 1.0)
    local out = SC.apply(flat, ref, 1.0):totable()
    for _, r in ipairs(out) do
      assert.near(ref.median[2], r[2], 1e-5)
    end
  end)

  it("refuses a share outside (0, 1] and a split without its window columns", function()
    local s = split({ { base = 1, step = 0.1 } }, 4)
    for _, bad in ipairs({ 0, -0.1, 1.5, "0.1" }) do
      local ok, err = pcall(SC.reference, s, bad)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("share must be in (0, 1]", 1, true), err)
    end
    local ok, err = pcall(SC.apply, { states = s.states }, SC.reference(s, 0.5), 0.5)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("the split has no 'window_start'", 1, true), err)
    local views = split({ { base = 1, step = 0.1 } }, 4, 1)
    ok, err = pcall(SC.reference, views, 0.5)
    assert.is_false(ok)
    assert.truthy(tostring(err):find("no states with id view 0", 1, true), err)
  end)
end)
