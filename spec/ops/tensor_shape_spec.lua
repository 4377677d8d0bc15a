-- tensor_shape_spec.lua -- graphids.tensor_shape (roll, diff, movedim, swapaxes, unflatten, tile,
-- hstack, vstack, tensor_split, split_with_sizes) against PyTorch's results (torch 2.x).  Dims
-- are 1-based here, 0-based in torch (torch's dim d is graphids' d + 1).  seq(shape) =
-- sin(arange(numel)) in f64 on both sides; gradients are those of sum(out * w), w =
-- cos(arange(numel)) in out's shape.  TORCH holds the results of (L = torch.tensor,
-- x = torch.arange(24).reshape(2, 3, 4)):
--   torch.roll(x, 5); torch.roll(x, (-1, 7), (1, 2)); torch.roll(x, (1, 1), (2, 2)); torch.roll(x, -3, -1)
--   torch.roll(seq(2, 3), (1, -1), (0, 1)) (gradient)
--   torch.diff(v), (v, 2), (v, 3), v = L([1, 4, 9, 16, 25, 36]); torch.diff(x, dim=0); torch.diff(x, 2, 1)
--   torch.diff(L([[1, 2], [4, 8]]), dim=1, prepend=L([[0], [1]]), append=L([[10, 20], [30, 40]]))
--   torch.diff(L([True, False, False, True])); torch.diff(L([1, 2]), 5).shape; torch.diff(seq(2, 4), 2, 1)
--   torch.zeros(2, 3, 4, 5).movedim((0, 1), (3, 0)).shape; x.movedim(0, -1); x.movedim((2, 0), (0, 1))
--   x.swapaxes(0, 2); torch.arange(24).reshape(4, 6).unflatten(1, (2, -1, 1)).shape
--   torch.tile(L([1, 2, 3]), (2,)); torch.tile(L([[1, 2], [3, 4]]), (2, 1, 3)); (same, (2,)); (same, (0, 2))
--   torch.tile(seq(2, 3), (2, 2)) (gradient)
--   torch.hstack([L(1), L([2, 3]), L([4])]); torch.hstack([L([[1], [2]]), L([[3, 4], [5, 6]])])
--   torch.vstack([L([1, 2]), L([[3, 4], [5, 6]]), L([7, 8])]); torch.vstack([L(1), L(2)])
--   a = torch.arange(7): a.tensor_split(3); torch.arange(3).tensor_split(5); a.tensor_split([1, 4]);
--     a.tensor_split([-2, 10]); a.tensor_split([4, 2]); a.tensor_split([])
--   m = torch.arange(12).reshape(2, 6): m.tensor_split(L([2, 5]), dim=1); m.tensor_split(L(4), dim=1);
--     m.split_with_sizes([1, 2, 3], 1)
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near, long = helpers.errors, helpers.near, helpers.long

local TOL = 1e-10 -- (the values below are rounded to 12 digits)

local ref = require "torch_ref"
local seq, backward = ref.seq, ref.backward
local function lists(pieces)
  local out = {}
  for i, p in ipairs(pieces) do out[i] = p:totable() end
  return out
end

local TORCH = {
  roll_flat = { { { 19, 20, 21, 22 }, { 23, 0, 1, 2 }, { 3, 4, 5, 6 } }, { { 7, 8, 9, 10 }, { 11, 12, 13,
      14 }, { 15, 16, 17, 18 } } },
  roll_2 = { { { 5, 6, 7, 4 }, { 9, 10, 11, 8 }, { 1, 2, 3, 0 } }, { { 17, 18, 19, 16 }, { 21, 22, 23, 20
      }, { 13, 14, 15, 12 } } },
  roll_rep = { { { 2, 3, 0, 1 }, { 6, 7, 4, 5 }, { 10, 11, 8, 9 } }, { { 14, 15, 12, 13 }, { 18, 19, 16,
      17 }, { 22, 23, 20, 21 } } },
  roll_neg_dim = { { { 3, 0, 1, 2 }, { 7, 4, 5, 6 }, { 11, 8, 9, 10 } }, { { 15, 12, 13, 14 }, { 19, 16,
      17, 18 }, { 23, 20, 21, 22 } } },
  roll_g = { { 0.283662185463, -0.9899924966, -0.653643620864 }, { -0.416146836547, 1.0, 0.540302305868 }
      },
  diff1 = { 3, 5, 7, 9, 11 },
  diff2 = { 2, 2, 2, 2 },
  diff3 = { 0, 0, 0 },
  diff_dim0 = { { { 12, 12, 12, 12 }, { 12, 12, 12, 12 }, { 12, 12, 12, 12 } } },
  diff_dim1_n2 = { { { 0, 0, 0, 0 } }, { { 0, 0, 0, 0 } } },
  diff_pa = { { 1, 1, 8, 10 }, { 3, 4, 22, 10 } },
  diff_bool = { true, false, true },
  diff_big = { 0 },
  diff_g = { { 1.0, -1.45969769413, -0.0806046117363, 0.540302305868 }, { -0.416146836547,
      -0.157698823506, 1.56383815665, -0.9899924966 } },
  diff_gv = { { -0.77364454279, -0.836003860784 }, { 0.881630555819, 0.256893320454 } },
  movedim_shape = { 3, 4, 5, 2 },
  movedim = { { { 0, 12 }, { 1, 13 }, { 2, 14 }, { 3, 15 } }, { { 4, 16 }, { 5, 17 }, { 6, 18 }, { 7, 19 }
      }, { { 8, 20 }, { 9, 21 }, { 10, 22 }, { 11, 23 } } },
  movedim2 = { { { 0, 4, 8 }, { 12, 16, 20 } }, { { 1, 5, 9 }, { 13, 17, 21 } }, { { 2, 6, 10 }, { 14, 18,
      22 } }, { { 3, 7, 11 }, { 15, 19, 23 } } },
  swapaxes = { { { 0, 12 }, { 4, 16 }, { 8, 20 } }, { { 1, 13 }, { 5, 17 }, { 9, 21 } }, { { 2, 14 }, { 6,
      18 }, { 10, 22 } }, { { 3, 15 }, { 7, 19 }, { 11, 23 } } },
  unflatten = { 4, 2, 3, 1 },
  tile1 = { 1, 2, 3, 1, 2, 3 },
  tile2 = { { { 1, 2, 1, 2, 1, 2 }, { 3, 4, 3, 4, 3, 4 } }, { { 1, 2, 1, 2, 1, 2 }, { 3, 4, 3, 4, 3, 4 } }
      },
  tile3 = { { 1, 2, 1, 2 }, { 3, 4, 3, 4 } },
  tile0 = { 0, 4 },
  tile_g = { { 0.0941735492732, -0.163554013869, -0.270910770928 }, { 0.161627472786, -0.0964254829411,
      -0.265825294341 } },
  hstack1 = { 1, 2, 3, 4 },
  hstack2 = { { 1, 3, 4 }, { 2, 5, 6 } },
  vstack = { { 1, 2 }, { 3, 4 }, { 5, 6 }, { 7, 8 } },
  vstack0 = { { 1 }, { 2 } },
  ts_3 = { { 0, 1, 2 }, { 3, 4 }, { 5, 6 } },
  ts_5of3 = { { 0 }, { 1 }, { 2 }, {  }, {  } },
  ts_idx = { { 0 }, { 1, 2, 3 }, { 4, 5, 6 } },
  ts_neg = { { 0, 1, 2, 3, 4 }, { 5, 6 }, {  } },
  ts_dec = { { 0, 1, 2, 3 }, {  }, { 2, 3, 4, 5, 6 } },
  ts_empty = { { 0, 1, 2, 3, 4, 5, 6 } },
  ts_dim1 = { { { 0, 1 }, { 6, 7 } }, { { 2, 3, 4 }, { 8, 9, 10 } }, { { 5 }, { 11 } } },
  ts_t0 = { { { 0, 1 }, { 6, 7 } }, { { 2, 3 }, { 8, 9 } }, { { 4 }, { 10 } }, { { 5 }, { 11 } } },
  sws = { { { 0 }, { 6 } }, { { 1, 2 }, { 7, 8 } }, { { 3, 4, 5 }, { 9, 10, 11 } } },
}


describe("tensor_shape", function()
  local x = graphids.arange(24):reshape({ 2, 3, 4 })

  it("rolls as torch.roll, flattened without dims", function()
    assert.same(TORCH.roll_flat, x:roll(5):totable())
    assert.same(TORCH.roll_2, x:roll({ -1, 7 }, { 2, 3 }):totable())
    assert.same(TORCH.roll_rep, graphids.roll(x, { 1, 1 }, { 3, 3 }):totable())
    assert.same(TORCH.roll_neg_dim, x:roll(-3, -1):totable())
    local s = seq({ 2, 3 })
    backward(s:roll({ 1, -1 }, { 1, 2 }))
    near(s.grad:totable(), TORCH.roll_g, TOL)
    assert.same({ 0, 3 }, graphids.zeros(0, 3):roll(2, 1).shape)
    assert.same({ 1, 2, 3 }, long({ 1, 2, 3 }):roll(0):totable())
  end)

  it("takes differences as torch.diff", function()
    local v = long({ 1, 4, 9, 16, 25, 36 })
    assert.same(TORCH.diff1, v:diff():totable())
    assert.same(TORCH.diff2, v:diff(2):totable())
    assert.same(TORCH.diff3, graphids.diff(v, 3):totable())
    assert.same(TORCH.diff_dim0, x:diff(1, 1):totable())
    assert.same(TORCH.diff_dim1_n2, x:diff(2, 2):totable())
    assert.same(TORCH.diff_pa, long({ { 1, 2 }, { 4, 8 } }):diff(1, 2, { prepend = long({ { 0 }, { 1 } }),
      append = long({ { 10, 20 }, { 30, 40 } }) }):totable())
    assert.same(TORCH.diff_bool, graphids.tensor({ true, false, false, true }):diff():totable())
    assert.same(TORCH.diff_big, long({ 1, 2 }):diff(5).shape)
    assert.same({ 1, 2 }, long({ 1, 2 }):diff(0):totable())
    local s = seq({ 2, 4 })
    local y = s:diff(2, 2)
    near(y:totable(), TORCH.diff_gv, TOL)
    backward(y)
    near(s.grad:totable(), TORCH.diff_g, TOL)
  end)

  it("moves and swaps dims as movedim and swapaxes, and unflattens", function()
    assert.same(TORCH.movedim_shape, graphids.zeros(2, 3, 4, 5):movedim({ 1, 2 }, { 4, 1 }).shape)
    assert.same(TORCH.movedim, x:movedim(1, -1):totable())
    assert.same(TORCH.movedim2, graphids.moveaxis(x, { 3, 1 }, { 1, 2 }):totable())
    assert.same(TORCH.swapaxes, x:swapaxes(1, 3):totable())
    assert.same(TORCH.swapaxes, graphids.swapdims(x, -1, 1):totable())
    assert.same(TORCH.unflatten, graphids.arange(24):reshape({ 4, 6 }):unflatten(2, { 2, -1, 1 }).shape)
    assert.same({ { 0, 1, 2 }, { 3, 4, 5 } }, graphids.arange(6):unflatten(-1, { 2, 3 }):totable())
  end)

  it("tiles as torch.tile", function()
    assert.same(TORCH.tile1, long({ 1, 2, 3 }):tile({ 2 }):totable())
    assert.same(TORCH.tile1, long({ 1, 2, 3 }):tile(2):totable())
    local m = long({ { 1, 2 }, { 3, 4 } })
    assert.same(TORCH.tile2, m:tile({ 2, 1, 3 }):totable())
    assert.same(TORCH.tile3, graphids.tile(m, { 2 }):totable())
    assert.same(TORCH.tile0, m:tile({ 0, 2 }).shape)
    local s = seq({ 2, 3 })
    backward(s:tile({ 2, 2 }))
    near(s.grad:totable(), TORCH.tile_g, TOL)
  end)

  it("stacks as hstack and vstack", function()
    assert.same(TORCH.hstack1, graphids.hstack({ long(1), long({ 2, 3 }), long({ 4 }) }):totable())
    assert.same(TORCH.hstack2, graphids.hstack({ long({ { 1 }, { 2 } }), long({ { 3, 4 }, { 5,
      6 } }) }):totable())
    assert.same(TORCH.vstack, graphids.vstack({ long({ 1, 2 }), long({ { 3, 4 }, { 5, 6 } }), long({ 7,
      8 }) })
      :totable())
    assert.same(TORCH.vstack0, graphids.vstack({ long(1), long(2) }):totable())
    local a, b = seq({ 2 }), seq({ 3 })
    backward(graphids.hstack({ a, b }))
    near(b.grad:totable(), { math.cos(2), math.cos(3), math.cos(4) }, 1e-15)
  end)

  it("splits as tensor_split and split_with_sizes, into views", function()
    local a = graphids.arange(7)
    assert.same(TORCH.ts_3, lists(a:tensor_split(3)))
    assert.same(TORCH.ts_5of3, lists(graphids.arange(3):tensor_split(5)))
    assert.same(TORCH.ts_idx, lists(a:tensor_split({ 1, 4 })))
    assert.same(TORCH.ts_neg, lists(a:tensor_split({ -2, 10 })))
    assert.same(TORCH.ts_dec, lists(graphids.tensor_split(a, { 4, 2 })))
    assert.same(TORCH.ts_empty, lists(a:tensor_split({})))
    local m = graphids.arange(12):reshape({ 2, 6 })
    assert.same(TORCH.ts_dim1, lists(m:tensor_split(long({ 2, 5 }), 2)))
    assert.same(TORCH.ts_t0, lists(m:tensor_split(long(4), 2)))
    local pieces = m:split_with_sizes({ 1, 2, 3 }, 2)
    assert.same(TORCH.sws, lists(pieces))
    pieces[2]:fill_(-1) -- views: writes show in m
    assert.same({ 0, -1, -1, 3, 4, 5 }, m:select(1, 1):totable())
  end)

  it("refuses bad arguments, naming the function", function()
    errors("roll: without dims, shifts must be one integer, got 2", x.roll, x, { 1, 2 })
    errors("roll: 2 shifts for 1 dims: give one shift per dim", x.roll, x, { 1, 2 }, { 1 })
    errors("roll: a shift must be an integer, got 1.5", x.roll, x, 1.5)
    errors("roll: dim 4 out of range for a tensor of 3 dims", x.roll, x, 1, 4)
    errors("diff: n must be an integer >= 0, got %-1", x.diff, x, -1)
    errors("diff: expects a tensor of 1 or more dims, got a 0%-d tensor", graphids.diff, long(1))
    errors("diff: prepend of shape %[2%] must match %[2,3,4%] but along dim 3", x.diff, x, 1, 3,
      { prepend = long({ 1, 2 }) })
    errors("diff: unknown option 'prepand' %(did you mean 'prepend'%?%)", x.diff, x, 1, 1, { prepand = x })
    errors("movedim: 2 source dims for 1 destinations", x.movedim, x, { 1, 2 }, 3)
    errors("movedim: dim 1 is given twice", x.movedim, x, { 1, 1 }, { 2, 3 })
    errors("swapaxes: dim 5 out of range for a tensor of 3 dims", x.swapaxes, x, 1, 5)
    errors("swapdims: unexpected argument #4 %(number%)", x.swapdims, x, 1, 2, 3)
    errors("unflatten: sizes %[2,2%] multiply to 4, but dim 1 has size 2", x.unflatten, x, 1, { 2, 2 })
    errors("unflatten: only one size may be %-1", x.unflatten, x, 3, { -1, -1 })
    errors("unflatten: sizes %[3,%-1%] cannot fill dim 3 of size 4", x.unflatten, x, 3, { 3, -1 })
    local wide = graphids.ones(2, 2, 2, 2, 2, 2, 2, 4)
    helpers.errors_at_caller("unflatten: the result would have 9 dims; tensors have at most 8",
      wide.unflatten, wide, 8, { 2, 2 })
    helpers.errors_at_caller("tile: the result would have 9 dims; tensors have at most 8", x.tile, x,
      { 1, 1, 1, 1, 1, 1, 1, 1, 2 })
    errors("tile: each rep must be an integer >= 0, got %-1", x.tile, x, { -1 })
    errors("hstack: expects a non%-empty list of tensors", graphids.hstack, {})
    errors("vstack: tensors%[2%] must be a tensor, got number", graphids.vstack, { x, 1 })
    errors("tensor_split: the number of sections must be >= 1, got 0", x.tensor_split, x, 0)
    -- refused before any view is made (torch makes them until memory runs out); one past the
    -- bound, so that without it the call returns instead of filling memory
    errors("tensor_split: 1048577 sections is too many for dim 1 of size 2: at most the size or "
      .. "1048576 %(each section is a view; beyond the size they are empty%)", x.tensor_split, x,
      (1 << 20) + 1)
    errors("tensor_split: 1099511627776 sections is too many for dim 3 of size 4", x.tensor_split, x,
      1 << 40, 3)
    errors("tensor_split: the number of sections must be an integer, got 2.0", x.tensor_split, x, 2.0)
    errors("tensor_split: expects an integer number of sections or a list of cut points, got string",
      x.tensor_split, x, "2")
    errors("tensor_split: each cut point must be an integer, got 1.5", x.tensor_split, x, { 1.5 })
    errors("split_with_sizes: sizes %[1,1%] add up to 2, expected 3 %(the size of dim 2%)",
      x.split_with_sizes, x,
      { 1, 1 }, 2)
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local r = x:unflatten(1, { 3 }) return r end)
    assert.is_false(ok)
    assert.equal("spec/ops/tensor_shape_spec.lua:" .. line .. ": unflatten: sizes [3] multiply to 3, but "
      .. "dim 1 has size 2", err)
  end)
end)
