-- tensor_extras_spec.lua -- the Tensor methods composed in Lua for PyTorch users (tolist,
-- view_as, type_as, new_*, clamp_min/max, unbind, flip, repeat_interleave, isin) and
-- F.normalize / F.cosine_similarity, against torch's values (computed with torch 2.x, quoted).
local graphids = require "graphids"
local F = require "graphids.nn.functional"
local helpers = require "helpers"
local errors = helpers.errors

local function long(t) return graphids.tensor(t, { dtype = "i64" }) end

describe("tensor extras", function()
  local x = graphids.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, { dtype = "f32" })

  it("converts and makes tensors like another", function()
    assert.same({ { 1, 2, 3 }, { 4, 5, 6 } }, x:tolist())
    assert.same({ 3, 2 }, x:view_as(graphids.zeros({ 3, 2 })).shape)
    assert.same({ 6 }, x:reshape_as(graphids.zeros({ 6 })).shape)
    assert.equal("f64", x:type_as(graphids.zeros({ 1 }, { dtype = "f64" })).dtype)
    local z = x:new_zeros({ 2, 2 })
    assert.same({ "f32", { 2, 2 }, 0 }, { z.dtype, z.shape, z:sum():item() })
    assert.equal(8, x:new_ones({ 8 }):sum():item())
    assert.equal(6, x:new_full({ 2 }, 3):sum():item())
    assert.equal("i64", x:new_zeros({ 1 }, { dtype = "i64" }).dtype)
    assert.same({ { 3, 3, 3 }, { 4, 5, 6 } }, x:clamp_min(3):tolist())
    assert.same({ { 1, 2, 2 }, { 2, 2, 2 } }, x:clamp_max(2):tolist())
  end)

  it("unbinds, flips and repeats in place as torch", function()
    local cols = x:unbind(2)
    assert.equal(3, #cols)
    assert.same({ 3, 6 }, cols[3]:tolist())
    assert.same({ 4, 5, 6 }, graphids.unbind(x)[2]:tolist())
    assert.same({ { 3, 2, 1 }, { 6, 5, 4 } }, x:flip(2):tolist())
    assert.same({ { 6, 5, 4 }, { 3, 2, 1 } }, x:flip({ 1, 2 }):tolist())
    assert.same({ { 4, 5, 6 }, { 1, 2, 3 } }, x:flip(-2):tolist())
    -- torch.repeat_interleave(x, 2, dim=0), (x, 2), (x, [1, 0, 2], dim=1)
    assert.same({ { 1, 2, 3 }, { 1, 2, 3 }, { 4, 5, 6 }, { 4, 5, 6 } }, x:repeat_interleave(2, 1):tolist())
    assert.same({ 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6 }, x:repeat_interleave(2):tolist())
    assert.same({ { 1, 3, 3 }, { 4, 6, 6 } }, x:repeat_interleave(long({ 1, 0, 2 }), 2):tolist())
    assert.same({ 2, 0 }, x:repeat_interleave(long({ 0, 0, 0 }), 2).shape)
    assert.same({ 1, 1, 2, 2, 3, 3 }, x:select(1, 1):repeat_interleave(long({ 2 })):tolist())
    errors("flip: dim 3 out of range for a tensor of 2 dims %(valid: 1..2 or %-2..%-1%)", x.flip, x, 3)
    -- a dim of another type is named as such, and a float holding an integer is that integer, as
    -- the core's ops take it
    errors("unbind: dim must be an integer, got 2.5", x.unbind, x, 2.5)
    errors("flip: dim must be an integer, got 'x' %(a string%)", x.flip, x, { "x" })
    errors("repeat_interleave: dim must be an integer, got true", x.repeat_interleave, x, 2, true)
    assert.equal(3, #x:unbind(2.0))
    -- a 0-d tensor: unbind refuses it as select does (torch: "tensor has no dimensions"); flip
    -- returns it and repeat_interleave repeats its element, as torch's
    local z = graphids.tensor(1.0)
    errors("unbind: cannot unbind a 0%-d tensor", graphids.unbind, z)
    assert.equal(1, z:flip(1):item())
    assert.same({ 1, 1 }, z:repeat_interleave(2, 1):tolist())
    errors("flip: dim 2 is given twice", x.flip, x, { 2, -1 })
    errors("repeat_interleave: repeats has 2 counts, the dim has 3 slices", x.repeat_interleave, x,
      long({ 1, 2 }), 2)
    errors("repeat_interleave: repeats%[2%] = %-1 is negative", x.repeat_interleave, x, long({ 1, -1, 1 }), 2)
    -- gradients follow the ops they are made of
    local y = graphids.randn({ 3, 4 }, { requires_grad = true })
    ;(y:flip(1):repeat_interleave(2, 2) * graphids.arange(1, 9, 1, { dtype = "f32" })):sum():backward()
    assert.same({ 3, 7, 11, 15 }, y.grad:select(1, 1):tolist())
  end)

  it("tells which elements are in a set (torch.isin)", function()
    assert.same({ false, false, true, true }, graphids.isin(long({ 1, 5, 7, 2 }), long({ 2, 7 })):tolist())
    assert.same({ { true, false } }, long({ { 3, 4 } }):isin(long({ 3 })):tolist())
    assert.same({ false, false }, graphids.isin(long({ 1, 2 }), long({})):tolist())
    -- either side a number, as torch
    assert.same({ false, false, false, true }, graphids.isin(graphids.arange(4), 3):tolist())
    assert.same({ true, false }, long({ 0, 1 }):isin(0):tolist())
    local one = graphids.isin(2, long({ 1, 2 }))
    assert.same({}, one.shape)
    assert.is_true(one:item())
    helpers.errors("isin: elements and test_elements must be tensors %(one of them may be a number%), " ..
      "got number and number", graphids.isin, 1, 2)
  end)

  it("normalizes and takes cosine similarity as torch.nn.functional", function()
    local a = graphids.tensor({ { 1, 2, 3 }, { 0, 0, 0 }, { 1e-9, 0, 0 } }, { dtype = "f64" })
    local b = graphids.tensor({ { 2, 0, 1 }, { 1, 1, 1 }, { 1e-9, 1e-9, 0 } }, { dtype = "f64" })
    -- torch: [0.5976142883300781, 0.0, 0.010000000707805157] (each norm clamped to eps on its own)
    helpers.near(F.cosine_similarity(a, b):tolist(), { 0.59761430466720, 0, 0.01 }, 1e-12)
    helpers.near(F.normalize(a):tolist(), { { 0.26726124191242, 0.53452248382485, 0.80178372573727 },
      { 0, 0, 0 }, { 1, 0, 0 } }, 1e-12)
    helpers.near(F.normalize(a, { p = 1, dim = 1 }):select(1, 1):tolist(), { 1 / (1 + 1e-9), 1, 1 }, 1e-15)
    errors("normalize: unknown option 'axis'", F.normalize, a, { axis = 1 })
    -- operands broadcast before the norms (torch: 0.9487, 0.9899)
    local c = F.cosine_similarity(graphids.tensor({ { 1, 2 }, { 3, 4 } }, { dtype = "f64" }),
      graphids.tensor({ { 1 }, { 2 } }, { dtype = "f64" }))
    helpers.near(c:tolist(), { 3 / math.sqrt(10), 7 / math.sqrt(50) }, 1e-12)
    -- a norm under eps is clamped as a value, its gradient the norm's (torch: 24053511.77)
    local x1 = graphids.tensor({ { 1e-9, 0, 0 } }, { dtype = "f64", requires_grad = true })
    F.cosine_similarity(x1, graphids.tensor({ { 1, 2, 3 } }, { dtype = "f64" })):sum():backward()
    helpers.near(x1.grad:select(1, 1):select(1, 1):item(), 9e7 / math.sqrt(14), 1e-9)
  end)
end)

-- Tensor keys (PyTorch's advanced indexing along the leading dims), values as torch gives them:
-- x = torch.arange(12.).reshape(4, 3); x[torch.tensor([True, False, True, False])] etc.
describe("tensor keys", function()
  local function x43() return graphids.arange(12):reshape({ 4, 3 }):float() end
  local mask = graphids.tensor({ true, false, true, false })

  it("select rows by a mask of the leading dims, or elements by a mask of every dim", function()
    local x = x43()
    assert.same({ { 0, 1, 2 }, { 6, 7, 8 } }, x[mask]:tolist())
    assert.same({ 6, 7, 8, 9, 10, 11 }, x[x:gt(5)]:tolist())
    assert.same({ 0, 3 }, x[graphids.zeros({ 4 }, { dtype = "bool" })].shape)
    local cube = graphids.arange(24):reshape({ 2, 3, 4 })
    local m2 = graphids.tensor({ { true, false, false }, { false, false, true } })
    assert.same({ { 0, 1, 2, 3 }, { 20, 21, 22, 23 } }, cube[m2]:tolist())
  end)

  it("select rows by 0-based indexes, negative ones from the end, keeping the index's shape", function()
    local x = x43()
    assert.same({ { 9, 10, 11 }, { 0, 1, 2 } }, x[long({ -1, 0 })]:tolist())
    local r = x[graphids.tensor({ { 1, 2 }, { 3, 0 } }, { dtype = "i32" })]
    assert.same({ 2, 2, 3 }, r.shape)
    assert.same({ { 9, 10, 11 }, { 0, 1, 2 } }, r:select(1, 2):tolist())
    assert.same({ 3, 4, 5 }, x[long(1)]:tolist()) -- a 0-d index: one row, as torch
    errors("index_select: index 4 out of range", function() return x[long({ 4 })] end)
  end)

  it("give the gradient to the selected rows", function()
    local w = graphids.randn({ 4, 3 }, { requires_grad = true })
    w[mask]:sum():backward()
    assert.same({ { 1, 1, 1 }, { 0, 0, 0 }, { 1, 1, 1 }, { 0, 0, 0 } }, w.grad:tolist())
    local v = graphids.randn({ 4, 3 }, { requires_grad = true })
    v[long({ 2, 2 })]:sum():backward() -- a row taken twice gets both gradients
    assert.same({ { 0, 0, 0 }, { 0, 0, 0 }, { 2, 2, 2 }, { 0, 0, 0 } }, v.grad:tolist())
  end)

  it("write numbers and broadcast tensors into t's memory", function()
    local x = x43()
    x[mask] = 0
    assert.same({ { 0, 0, 0 }, { 3, 4, 5 }, { 0, 0, 0 }, { 9, 10, 11 } }, x:tolist())
    x = x43()
    x[long({ 1, -1 })] = graphids.tensor({ -1, -2, -3 })
    assert.same({ { 0, 1, 2 }, { -1, -2, -3 }, { 6, 7, 8 }, { -1, -2, -3 } }, x:tolist())
    x = x43()
    x[x:lt(3)] = graphids.tensor({ 7, 8, 9 }, { dtype = "f64" }) -- cast to x's dtype
    assert.same({ 7, 8, 9, 3 }, x:reshape({ -1 }):narrow(1, 1, 4):tolist())
    assert.equal("f32", x.dtype)
    -- a view without a [rows, rest] view of its own (a transpose): written through to its base
    local base = x43()
    local t = base:t()
    t[graphids.tensor({ true, false, true })] = 7
    assert.same({ { 7, 1, 7 }, { 7, 4, 7 }, { 7, 7, 7 }, { 7, 10, 7 } }, base:tolist())
    x = x43()
    x[graphids.zeros({ 4 }, { dtype = "bool" })] = 5 -- nothing selected: nothing written
    assert.same(x43():tolist(), x:tolist())
  end)

  it("name what was wrong at the indexing line", function()
    local x = x43()
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() return x[graphids.tensor({ true, false })] end)
    assert.is_false(ok)
    assert.equal("spec/ops/tensor_extras_spec.lua:" .. line .. ": t[key]: mask of shape [2] does not match "
      .. "the leading dims of a tensor of shape [4,3]", err)
    errors("t%[key%]: a tensor key must be a bool mask or an i64/i32 index, got f32",
      function() return x[graphids.tensor({ 1.5 })] end)
    errors("t%[key%] = v: value of shape %[2%] does not broadcast to %[1,3%]",
      function() x[long({ 1 })] = graphids.ones({ 2 }) end)
    errors("t%[key%] = v: the value must be a number, a boolean or a tensor, got string",
      function() x[long({ 1 })] = "a" end)
    errors("t%[key%]: a 0%-d tensor cannot be indexed with a tensor",
      function() return graphids.tensor(1.0)[long({ 0 })] end)
    errors("Tensor cannot be indexed with a number", function() return x[1] end)
    -- the write's own refusals point at the indexing line too, and change nothing
    local leaf = graphids.ones({ 3 }, { requires_grad = true })
    line = debug.getinfo(1, "l").currentline + 1
    ok, err = pcall(function() leaf[long({ 0 })] = 5 end)
    assert.is_false(ok)
    assert.matches("^spec/ops/tensor_extras_spec%.lua:" .. line .. ": t%[key%] = v: scatter_: a " ..
      "tensor that requires grad cannot be modified in place", err)
    line = debug.getinfo(1, "l").currentline + 1
    ok, err = pcall(function() x[long({ 7 })] = 5 end)
    assert.is_false(ok)
    assert.matches("^spec/ops/tensor_extras_spec%.lua:" .. line .. ": t%[key%] = v: scatter_: " ..
      "index 7 out of range", err)
    assert.same(x43():tolist(), x:tolist())
    assert.same({ 1, 1, 1 }, leaf:tolist())
    -- a read out of range, a value that does not fit, an index below -n (named as given)
    line = debug.getinfo(1, "l").currentline + 1
    ok, err = pcall(function() local _ = x[long({ 4 })] end)
    assert.is_false(ok)
    assert.matches("^spec/ops/tensor_extras_spec%.lua:" .. line .. ": t%[key%]: index_select: " ..
      "index 4 out of range", err)
    local u = graphids.zeros({ 3 }, { dtype = "u8" })
    line = debug.getinfo(1, "l").currentline + 1
    ok, err = pcall(function() u[long({ 1 })] = 300 end)
    assert.is_false(ok)
    assert.matches("^spec/ops/tensor_extras_spec%.lua:" .. line .. ": t%[key%] = v: full: value 300 " ..
      "does not fit in u8", err)
    errors("t%[key%] = v: scatter_: index %-9 out of range %[0, 4%)", function() x[long({ -9 })] = 1 end)
    x[long({ -4 })] = 5 -- -n counts from the end: the first row
    assert.same({ 5, 5, 5 }, x:tolist()[1])
  end)
end)
