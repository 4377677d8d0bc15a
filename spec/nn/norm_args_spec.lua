-- norm_args_spec.lua -- the arguments layer_norm and batch_norm (and LayerNorm, BatchNorm1d)
-- refuse before any op runs, as torch 2.15 refuses them, each error naming the function (or
-- the layer), the argument and what was wrong with it, at the caller's line.
local graphids = require "graphids"
local nn = require "graphids.nn"
local helpers = require "helpers"
local at, long = helpers.errors_at_caller, helpers.long

local F = nn.functional
local F64 = helpers.F64

describe("layer_norm and LayerNorm with tensors of another dtype", function()
  -- torch 2.15: layer_norm(f32 x, (4,), weight=f64) "mixed dtype (CPU): expect parameter to have
  -- scalar type of Float", LayerNorm(4)(f64 x) "mixed dtype (CPU): all inputs must share same
  -- datatype"; the composed ops had widened the result to f64 without a word.
  local x = function() return graphids.tensor({ { 1.0, 2, 3, 4 }, { 2, 2, 2, 6 } }) end

  it("refuses a weight or bias whose dtype is not the input's, naming both", function()
    at("^[^:]+:%d+: layer_norm: weight has dtype f64, but input has dtype f32 %(convert it: "
      .. "weight:float%(%)%)$", F.layer_norm, x(), 4, { weight = graphids.ones(4, F64) })
    at(": layer_norm: bias has dtype f32, but input has dtype f64 %(convert it: bias:double%(%)%)$",
      F.layer_norm, x():double(), 4, { bias = graphids.zeros(4) })
    at(": layer_norm: weight has dtype i64, but input has dtype f32 %(convert it: weight:float%(%)%)$",
      F.layer_norm, x(), 4, { weight = long({ 1, 1, 1, 1 }) })
    -- an integer input is said as such, not as its weight's mismatch
    at(": layer_norm: input must be a float tensor %(f32 or f64%), got i64$", F.layer_norm,
      x():long(), 4, { weight = graphids.ones(4) })
    assert.equal("f64", F.layer_norm(x():double(), 4, { weight = graphids.ones(4, F64),
      bias = graphids.zeros(4, F64) }).dtype)
  end)

  it("lets f32 tensors go with a half input, as torch's mixed-precision norms", function()
    -- (half tensors live on a GPU only: the rule itself, which both checks share)
    local U = require "graphids.nn._util"
    assert.is_true(U.norm_dtypes_match("f32", "f16"))
    assert.is_true(U.norm_dtypes_match("f32", "bf16"))
    assert.is_true(U.norm_dtypes_match("f64", "f64"))
    assert.is_false(U.norm_dtypes_match("f64", "f16"))
    assert.is_false(U.norm_dtypes_match("f16", "f32"))
    assert.is_false(U.norm_dtypes_match("f64", "f32"))
    assert.is_false(U.norm_dtypes_match("i64", "f32"))
  end)

  it("LayerNorm says the input's dtype against its weight, with the layer's conversion", function()
    at("^[^:]+:%d+: LayerNorm: input has dtype f64, but weight has dtype f32 %(convert one: "
      .. "input:float%(%), or the layer: m:double%(%)%)$", nn.LayerNorm(4), x():double())
    at(": LayerNorm: input has dtype f32, but weight has dtype f64 ", nn.LayerNorm(4, F64), x())
    at(": model%.1: LayerNorm: input has dtype f64", nn.Sequential(nn.ReLU(), nn.LayerNorm(4)),
      x():double())
    -- a layer converted takes its new dtype; one without weights takes either
    assert.equal("f64", nn.LayerNorm(4):double()(x():double()).dtype)
    assert.equal("f64", nn.LayerNorm(4, { elementwise_affine = false })(x():double()).dtype)
  end)
end)

describe("batch_norm and BatchNorm1d with tensors of another dtype", function()
  -- torch 2.15 refuses each ("mixed dtype (CPU): expect parameter to have scalar type of
  -- Float"); the composed ops had widened the result to f64, or updated an f64 running
  -- statistic in place and returned f32.
  local x = function() return graphids.tensor({ { 1.0, 2 }, { 3, 6 } }) end
  local z, o = function() return graphids.zeros(2) end, function() return graphids.ones(2) end

  it("refuses running statistics, weight or bias whose dtype is not the input's", function()
    at("^[^:]+:%d+: batch_norm: running_mean has dtype f64, but input has dtype f32 %(convert it: "
      .. "running_mean:float%(%)%)$", F.batch_norm, x(), z():double(), o())
    at(": batch_norm: running_var has dtype f64, but input has dtype f32 %(convert it: "
      .. "running_var:float%(%)%)$", F.batch_norm, x(), z(), o():double())
    at(": batch_norm: weight has dtype f64, but input has dtype f32", F.batch_norm, x(), z(), o(),
      { weight = o():double() })
    at(": batch_norm: bias has dtype i64, but input has dtype f32 %(convert it: bias:float%(%)%)$",
      F.batch_norm, x(), nil, nil, { bias = long({ 0, 0 }), training = true })
    at(": batch_norm: running_mean has dtype f32, but input has dtype f64 %(convert it: "
      .. "running_mean:double%(%)%)$", F.batch_norm, x():double(), z(), o())
    at(": batch_norm: input must be a float tensor %(f32 or f64%), got i64$", F.batch_norm, x():long(),
      z(), o())
    -- refused before the running statistics are updated in place
    local rm = z():double()
    at(": batch_norm: running_mean has dtype f64", F.batch_norm, x(), rm, o():double(),
      { training = true })
    assert.same({ 0, 0 }, rm:totable())
  end)

  it("BatchNorm1d says the input's dtype against its weight or running_mean, and counts no batch",
    function()
      local bn = nn.BatchNorm1d(2)
      at("^[^:]+:%d+: BatchNorm1d: input has dtype f64, but weight has dtype f32 %(convert one: "
        .. "input:float%(%), or the layer: m:double%(%)%)$", bn, x():double())
      assert.equal(0, bn.num_batches_tracked:item())
      assert.same({ 0, 0 }, bn.running_mean:totable())
      at(": BatchNorm1d: input has dtype f64, but running_mean has dtype f32 ",
        nn.BatchNorm1d(2, { affine = false }), x():double())
      assert.equal("f64", bn:double()(x():double()).dtype)
      assert.equal(1, bn.num_batches_tracked:item())
      assert.equal("f64", nn.BatchNorm1d(2, { affine = false, track_running_stats = false })(
        x():double()).dtype)
      -- a tensor replaced by one of another dtype is named by F's check, under the layer's name
      local b2 = nn.BatchNorm1d(2, { momentum = false })
      b2.running_var = o():double()
      at(": BatchNorm1d: running_var has dtype f64, but input has dtype f32", b2, x())
      assert.equal(0, b2.num_batches_tracked:item())
      b2.running_var = o()
      b2(x())
      -- (momentum false: the first batch's statistics replace the running ones)
      helpers.near(b2.running_mean:totable(), { 2, 4 }, 1e-6)
      assert.equal(1, b2.num_batches_tracked:item())
    end)
end)

describe("batch_norm's per-channel tensors", function()
  -- torch 2.15: "running_mean should contain 4 elements not 5", "weight should contain 4
  -- elements not 3"; view had refused them in its own terms ("shape [1,4] is invalid for a
  -- tensor of 5 elements").
  local x = function() return graphids.zeros(3, 4) end

  it("refuses one without a value per channel, naming it and both shapes", function()
    at("^[^:]+:%d+: batch_norm: running_mean has shape %[5%], but the input %[3, 4%] has 4 channels "
      .. "%(dim 2%); give one value per channel$", F.batch_norm, x(), graphids.zeros(5), graphids.ones(4))
    at(": batch_norm: running_var has shape %[5%], but the input %[3, 4%] has 4 channels", F.batch_norm,
      x(), graphids.zeros(4), graphids.ones(5), { training = true })
    at(": batch_norm: weight has shape %[3%], but the input %[2, 4, 3%] has 4 channels", F.batch_norm,
      graphids.zeros(2, 4, 3), nil, nil, { weight = graphids.ones(3), training = true })
    at(": batch_norm: bias has shape %[2, 4%], but the input %[3, 4%] has 4 channels", F.batch_norm,
      x(), nil, nil, { bias = graphids.zeros(2, 4) })
    -- an empty batch too (torch lets that one through), and before an update in place
    at(": batch_norm: weight has shape %[5%]", F.batch_norm, graphids.zeros(0, 4), nil, nil,
      { weight = graphids.ones(5) })
    local rm = graphids.zeros(4)
    at(": batch_norm: running_var has shape %[5%]", F.batch_norm, graphids.randn(3, 4), rm,
      graphids.ones(5), { training = true })
    assert.same({ 0, 0, 0, 0 }, rm:totable())
    -- any shape of C values is taken, as torch's weight
    assert.same({ 3, 4 }, F.batch_norm(x(), nil, nil, { weight = graphids.ones(1, 4) }).shape)
  end)

  it("takes both running statistics or neither, as torch", function()
    at("^[^:]+:%d+: batch_norm: running_var is nil, but running_mean is given; give both running "
      .. "statistics or neither$", F.batch_norm, x(), graphids.zeros(4), nil)
    at(": batch_norm: running_mean is nil, but running_var is given", F.batch_norm, x(), nil,
      graphids.ones(4), { training = true })
  end)

  it("BatchNorm1d names a replaced buffer of the wrong shape, and counts no batch", function()
    local bn = nn.BatchNorm1d(4)
    bn.running_mean = graphids.zeros(5)
    at("^[^:]+:%d+: BatchNorm1d: running_mean has shape %[5%], but the input %[3, 4%] has 4 channels",
      bn, graphids.randn(3, 4))
    assert.equal(0, bn.num_batches_tracked:item())
  end)
end)
