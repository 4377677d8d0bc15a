-- analysis_spec.lua -- graphids.analysis: linear CKA against numpy's value for a small case and
-- its invariances, and per-graph embeddings of a GAT over a loader (eval mode, no grad, the
-- model's mode restored).
local graphids = require "graphids"
local analysis = require "graphids.analysis"
local h = require "helpers"

local F64 = { dtype = "f64" }

local function one_batch_loader(batch)
  return { iter = function()
    local done = false
    return function()
      if done then return nil end
      done = true
      return batch
    end
  end }
end

describe("graphids.analysis.cka", function()
  it("gives numpy's linear CKA and is invariant to rotation, scale and shift", function()
    local x = graphids.tensor({ { 1, 2 }, { 3, 1 }, { 0, 5 }, { 2, 2 } }, F64)
    local y = graphids.tensor({ { 1, 0, 1 }, { 2, 1, 0 }, { 0, 3, 1 }, { 1, 1, 1 } }, F64)
    -- numpy: xc, yc centered; ||yc.T @ xc||^2 / (||xc.T @ xc|| ||yc.T @ yc||)
    h.near(analysis.cka(x, y), 0.810533176287067, 1e-12)
    h.near(analysis.cka(y, x), 0.810533176287067, 1e-12)
    h.near(analysis.cka(x, x), 1, 1e-12)
    local c, s = math.cos(0.3), math.sin(0.3)
    local rot = graphids.tensor({ { c, -s }, { s, c } }, F64)
    h.near(analysis.cka(x:matmul(rot) * 5 + 2, y), 0.810533176287067, 1e-12)
    assert.is_true(analysis.cka(x:to("f32"), y) > 0.81) -- f32 input is computed in f64
  end)

  it("refuses representations of different examples or of another rank", function()
    local x = graphids.ones(4, 2)
    h.errors("analysis.cka: x has 4 rows and y 3; they must describe the same examples",
      analysis.cka, x, graphids.ones(3, 2))
    h.errors("analysis.cka: y must be a 2%-D tensor %[N, d%], got 1 dims", analysis.cka, x, graphids.ones(4))
  end)
end)

describe("graphids.analysis.embeddings", function()
  it("collects a GAT's pooled embeddings and the labels, in eval mode, leaving the mode as it was", function()
    local models, P = require "graphids.models", require "graphids.models.presets"
    local batch = require("models.graphs").batch({ num_ids = 10, seed = 1 })
    graphids.manual_seed(4)
    local m = models.GATClassifier(P.gat.small({ num_ids = 10 }))
    m:train()
    local e = analysis.embeddings(m, one_batch_loader(batch))
    assert.is_true(m.training)
    m:eval()
    local _, want = m(batch)
    assert.same(want:totable(), e.embeddings:totable())
    assert.same({ 0, 1, 0 }, e.labels:totable())
    assert.is_false(e.embeddings.requires_grad)
    -- another representation: the logits
    local logits = function(model, b) return (model(b)) end
    local l = analysis.embeddings(m, one_batch_loader(batch), { fn = logits })
    assert.same({ 3, 2 }, l.embeddings.shape)
    h.errors("batch 1: the representation must be a %[B, d%] tensor, got a tensor of shape %[3%]",
      analysis.embeddings, m, one_batch_loader(batch), { fn = function() return graphids.ones(3) end })
    assert.is_false(m.training) -- restored after the error too
    h.errors("analysis.embeddings: unknown option 'f' %(did you mean 'fn'%?%)", analysis.embeddings, m,
      one_batch_loader(batch), { f = 1 })
    h.errors("analysis.embeddings: unknown option 'xyz' %(allowed: fn%)", analysis.embeddings, m,
      one_batch_loader(batch), { xyz = 1 })
    h.errors("analysis.embeddings: loader must have iter%(%)", analysis.embeddings, m, {})
  end)
end)
