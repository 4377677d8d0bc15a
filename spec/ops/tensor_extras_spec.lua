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
    errors("flip: dim must be an integer in 1..2", x.flip, x, 3)
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
