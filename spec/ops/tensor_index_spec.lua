-- tensor_index_spec.lua -- graphids.tensor_index (index_copy, index_fill, index_put,
-- scatter_reduce, take_along_dim, argwhere, count_nonzero, searchsorted, bucketize) against
-- PyTorch's values and gradients (torch 2.x, f64).  On both sides seq(shape, offset) =
-- sin(arange(numel) + offset) reshaped, and gradients are those of sum(out * w), w =
-- cos(arange(numel)) in out's shape.  TORCH holds the results of (L = torch.tensor):
--   s.index_copy(0, L([2, 0]), src), s = seq(3, 4), src = seq(2, 4, offset=20)
--   seq(3, 4).index_copy(1, L([3, 1]), seq(3, 2, offset=20))
--   s.index_fill(1, L([-1, 0]), -2.5), s = seq(3, 4); torch.arange(6).reshape(2, 3).index_fill_(0, L(1), 9)
--   s.index_put((L([[0], [2]]), L([1, -1])), v), s = seq(3, 4), v = seq(2, 2, offset=30)
--   s.index_put((L([1, 0, 1, 1]),), v, accumulate=True), s = seq(3, 2), v = seq(4, 2, offset=30)
--   torch.zeros(2, 3).index_put_((L([[True, False, True], [False, True, False]]),), L([1., 2, 3]))
--   torch.zeros(3, 2, 2).index_put_((L([2, 0]),), L([5., 6]))
--   s.scatter_reduce(1, L([[0, 0, 3], [1, 3, 3]]), src, reduce, include_self=inc), s = seq(2, 4),
--     src = seq(2, 3, offset=10), for reduce in (sum, prod, mean, amax, amin), inc in (True, False)
--   seq(2, 4).scatter_reduce(1, L([[0, 0, 3], [1, 3, 3]]), seq(2, 4, offset=10), "sum")
--   s.scatter_reduce(0, L([[1, 0, 1], [1, 1, 1], [0, 1, 1]]), src, reduce), s = seq(2, 3),
--     src = [[2, 0, 3], [0.5, 4, 0], [1.5, -1, 2]], for reduce in (prod, amax, mean)
--   L([10, 1, 1]).scatter_reduce(0, L([0, 0, 1]), L([1, 2, 4]), "mean") (and src [-1, -2, 4],
--     include_self=False); L([2, 3, 5]).scatter_reduce(0, L([0, 0, 2, 0]), L([7, -1, 4, 3]), "prod")
--     (and "amin", include_self=False)
--   torch.take_along_dim(seq(2, 3), L([[0, 2, 2, 1]]), 1)
--   torch.take_along_dim(torch.arange(6).reshape(2, 3), L([[5, 0], [0, 2]])); the same with L([[1], [0]]), 0
--   torch.argwhere(L([[0, 1.5], [nan, 0]])); torch.count_nonzero(cz), (cz, 1), (cz, (0, 1)),
--     cz = L([[0, 1, nan], [0, 0, 2.]])
--   torch.searchsorted(L([1., 2, 2, 2, 5, 9]), L([[0., 1, 2], [3, 9, 10], [nan, -1, 5]])) (and right=True)
--   torch.searchsorted(L([1., 2, nan]), L([nan, 2.0, 5.]))
--   torch.searchsorted(L([[1, 3, 5, 7], [2, 4, 6, 8]]), L([[3, 6, 9], [1, 4, 8]])) (and side="right")
--   torch.searchsorted(L([5., 1, 9, 2]), L([2., 6]), sorter=torch.argsort(L([5., 1, 9, 2])))
--   torch.searchsorted(L([1., 2, 2, 2, 5, 9]), 2.5); torch.searchsorted(L([1, 3, 5]), 3)
--   torch.bucketize(L([[0, 1, 5], [6, 9, 10]]), L([1, 3, 5, 7, 9])) (and right=True)
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near, long = helpers.errors, helpers.near, helpers.long

local NAN = 0 / 0
local TOL = 1e-10 -- (the values below are rounded to 12 digits)

local ref = require "torch_ref"
local seq, backward = ref.seq, ref.backward
local function f64(t) return graphids.tensor(t, { dtype = "f64" }) end

local TORCH = {
  index_copy_1 = { { -0.905578362007, -0.132351750098, 0.76255845048, 0.956375928405 }, { -0.756802495308,
      -0.958924274663, -0.279415498199, 0.656986598719 }, { 0.912945250728, 0.836655638536,
      -0.0088513092904, -0.846220404175 } },
  index_copy_1_gs = { { 0.0, 0.0, 0.0, 0.0 }, { -0.653643620864, 0.283662185463, 0.96017028665,
      0.753902254343 }, { 0.0, 0.0, 0.0, 0.0 } },
  index_copy_1_gsrc = { { -0.145500033809, -0.911130261885, -0.839071529076, 0.00442569798805 }, { 1.0,
      0.540302305868, -0.416146836547, -0.9899924966 } },
  index_copy_2 = { { 0.0, 0.836655638536, 0.909297426826, 0.912945250728 }, { -0.756802495308,
      -0.846220404175, -0.279415498199, -0.0088513092904 }, { 0.989358246623, -0.132351750098,
      -0.544021110889, -0.905578362007 } },
  index_fill = { { -2.5, 0.841470984808, 0.909297426826, -2.5 }, { -2.5, -0.958924274663, -0.279415498199,
      -2.5 }, { -2.5, 0.412118485242, -0.544021110889, -2.5 } },
  index_fill_g = { { 0.0, 0.540302305868, -0.416146836547, 0.0 }, { 0.0, 0.283662185463, 0.96017028665,
      0.0 }, { 0.0, -0.911130261885, -0.839071529076, 0.0 } },
  index_fill_int = { { 0, 1, 2 }, { 9, 9, 9 } },
  index_put = { { 0.0, -0.988031624093, 0.909297426826, -0.404037645323 }, { -0.756802495308,
      -0.958924274663, -0.279415498199, 0.656986598719 }, { 0.989358246623, 0.551426681242,
      -0.544021110889, 0.999911860107 } },
  index_put_gs = { { 1.0, 0.0, -0.416146836547, 0.0 }, { -0.653643620864, 0.283662185463, 0.96017028665,
      0.753902254343 }, { -0.145500033809, 0.0, -0.839071529076, 0.0 } },
  index_put_gv = { { 0.540302305868, -0.9899924966 }, { -0.911130261885, 0.00442569798805 } },
  index_put_acc = { { 0.551426681242, 1.84138284492 }, { -0.54143036459, -1.33463844012 }, {
      -0.756802495308, -0.958924274663 } },
  index_put_acc_gs = { { 1.0, 0.540302305868 }, { -0.416146836547, -0.9899924966 }, { -0.653643620864,
      0.283662185463 } },
  index_put_acc_gv = { { -0.416146836547, -0.9899924966 }, { 1.0, 0.540302305868 }, { -0.416146836547,
      -0.9899924966 }, { -0.416146836547, -0.9899924966 } },
  index_put_mask = { { 1.0, 0.0, 2.0 }, { 0.0, 3.0, 0.0 } },
  index_put_rows = { { { 5.0, 6.0 }, { 5.0, 6.0 } }, { { 0.0, 0.0 }, { 0.0, 0.0 } }, { { 5.0, 6.0 }, {
      5.0, 6.0 } } },
  sr_sum_self = { { -1.54401131744, 0.841470984808, 0.909297426826, -0.395452909941 }, { -0.756802495308,
      -0.538757237836, -0.279415498199, 2.29788179457 } },
  sr_sum_self_gs = { { 1.0, 0.540302305868, -0.416146836547, -0.9899924966 }, { -0.653643620864,
      0.283662185463, 0.96017028665, 0.753902254343 } },
  sr_sum_self_gsrc = { { 1.0, 1.0, -0.9899924966 }, { 0.283662185463, 0.753902254343, 0.753902254343 } },
  sr_sum_noself = { { -1.54401131744, 0.841470984808, 0.909297426826, -0.536572918 }, { -0.756802495308,
      0.420167036827, -0.279415498199, 1.64089519585 } },
  sr_sum_noself_gs = { { 0.0, 0.540302305868, -0.416146836547, 0.0 }, { -0.653643620864, 0.0,
      0.96017028665, 0.0 } },
  sr_sum_noself_gsrc = { { 1.0, 1.0, -0.9899924966 }, { 0.283662185463, 0.753902254343, 0.753902254343 }
      },
  sr_prod_self = { { 0.0, 0.841470984808, 0.909297426826, -0.0757211745129 }, { -0.756802495308,
      -0.402908371026, -0.279415498199, 0.423217573144 } },
  sr_prod_self_gs = { { 0.544015783046, 0.540302305868, -0.416146836547, 0.531203162699 }, {
      -0.653643620864, 0.119185499926, 0.96017028665, 0.485648692216 } },
  sr_prod_self_gsrc = { { -0.0, -0.0, -0.139707749099 }, { -0.272010555445, 0.322089958889, 0.490651466578
      } },
  sr_prod_noself = { { 0.544015783046, 0.841470984808, 0.909297426826, -0.536572918 }, { -0.756802495308,
      0.420167036827, -0.279415498199, 0.644179917779 } },
  sr_prod_noself_gs = { { 0.0, 0.540302305868, -0.416146836547, 0.0 }, { -0.653643620864, 0.0,
      0.96017028665, 0.0 } },
  sr_prod_noself_gsrc = { { -0.999990206551, -0.544021110889, -0.9899924966 }, { 0.283662185463,
      0.490253468666, 0.746821118627 } },
  sr_mean_self = { { -0.514670439147, 0.841470984808, 0.909297426826, -0.19772645497 }, { -0.756802495308,
      -0.269378618918, -0.279415498199, 0.76596059819 } },
  sr_mean_self_gs = { { 0.333333333333, 0.540302305868, -0.416146836547, -0.4949962483 }, {
      -0.653643620864, 0.141831092732, 0.96017028665, 0.251300751448 } },
  sr_mean_self_gsrc = { { 0.333333333333, 0.333333333333, -0.4949962483 }, { 0.141831092732,
      0.251300751448, 0.251300751448 } },
  sr_mean_noself = { { -0.77200565872, 0.841470984808, 0.909297426826, -0.536572918 }, { -0.756802495308,
      0.420167036827, -0.279415498199, 0.820447597926 } },
  sr_mean_noself_gs = { { 0.0, 0.540302305868, -0.416146836547, 0.0 }, { -0.653643620864, 0.0,
      0.96017028665, 0.0 } },
  sr_mean_noself_gsrc = { { 0.5, 0.5, -0.9899924966 }, { 0.283662185463, 0.376951127172, 0.376951127172 }
      },
  sr_amax_self = { { 0.0, 0.841470984808, 0.909297426826, 0.14112000806 }, { -0.756802495308,
      0.420167036827, -0.279415498199, 0.990607355695 } },
  sr_amax_self_gs = { { 1.0, 0.540302305868, -0.416146836547, -0.9899924966 }, { -0.653643620864, 0.0,
      0.96017028665, 0.0 } },
  sr_amax_self_gsrc = { { 0.0, 0.0, -0.0 }, { 0.283662185463, 0.753902254343, 0.0 } },
  sr_amax_noself = { { -0.544021110889, 0.841470984808, 0.909297426826, -0.536572918 }, { -0.756802495308,
      0.420167036827, -0.279415498199, 0.990607355695 } },
  sr_amax_noself_gs = { { 0.0, 0.540302305868, -0.416146836547, 0.0 }, { -0.653643620864, 0.0,
      0.96017028665, 0.0 } },
  sr_amax_noself_gsrc = { { 1.0, 0.0, -0.9899924966 }, { 0.283662185463, 0.753902254343, 0.0 } },
  sr_amin_self = { { -0.999990206551, 0.841470984808, 0.909297426826, -0.536572918 }, { -0.756802495308,
      -0.958924274663, -0.279415498199, 0.650287840157 } },
  sr_amin_self_gs = { { 0.0, 0.540302305868, -0.416146836547, -0.0 }, { -0.653643620864, 0.283662185463,
      0.96017028665, 0.0 } },
  sr_amin_self_gsrc = { { 0.0, 1.0, -0.9899924966 }, { 0.0, 0.0, 0.753902254343 } },
  sr_amin_noself = { { -0.999990206551, 0.841470984808, 0.909297426826, -0.536572918 }, { -0.756802495308,
      0.420167036827, -0.279415498199, 0.650287840157 } },
  sr_amin_noself_gs = { { 0.0, 0.540302305868, -0.416146836547, 0.0 }, { -0.653643620864, 0.0,
      0.96017028665, 0.0 } },
  sr_amin_noself_gsrc = { { 0.0, 1.0, -0.9899924966 }, { 0.283662185463, 0.0, 0.753902254343 } },
  sr_narrow = { { -1.54401131744, 0.841470984808, 0.909297426826, -0.395452909941 }, { -0.756802495308,
      0.0316830810317, -0.279415498199, 1.01937112221 } },
  sr0_prod = { { 0.0, 0.0, 0.909297426826 }, { 0.14112000806, 3.02720998123, -0.0 } },
  sr0_prod_gs = { { 1.5, 0.0, -0.416146836547 }, { -0.9899924966, 2.61457448345, 0.0 } },
  sr0_prod_gsrc = { { -0.0698538745497, 0.454648713413, -0.0 }, { -0.279415498199, -0.494679123312,
      -1.63206333267 }, { 0.0, 1.97871649325, -0.0 } },
  sr0_amax = { { 1.5, 0.841470984808, 0.909297426826 }, { 2.0, 4.0, 3.0 } },
  sr0_amax_gs = { { 0.0, 0.540302305868, -0.416146836547 }, { -0.0, -0.0, 0.0 } },
  sr0_amax_gsrc = { { -0.9899924966, 0.0, 0.283662185463 }, { -0.0, -0.653643620864, 0.0 }, { 1.0, -0.0,
      0.0 } },
  sr0_mean = { { 0.75, 0.420735492404, 0.909297426826 }, { 0.88037333602, 0.747732501564, 1.01026893133 }
      },
  sr0_mean_gs = { { 0.5, 0.270151152934, -0.416146836547 }, { -0.329997498867, -0.217881206955,
      0.0709155463658 } },
  sr0_mean_gsrc = { { -0.329997498867, 0.270151152934, 0.0709155463658 }, { -0.329997498867,
      -0.217881206955, 0.0709155463658 }, { 0.5, -0.217881206955, 0.0709155463658 } },
  sr_int_mean = { 4, 2, 1 },
  sr_int_mean_noself = { -2, 4, 1 },
  sr_int_prod = { -42, 3, 20 },
  sr_int_amin = { -1, 3, 4 },
  take = { { 0.0, 0.909297426826, 0.909297426826, 0.841470984808 }, { 0.14112000806, -0.958924274663,
      -0.958924274663, -0.756802495308 } },
  take_g = { { 1.0, -0.9899924966, 0.124155469321 }, { -0.653643620864, 0.753902254343, 1.24383247211 } },
  take_flat = { 5, 0, 0, 2 },
  take_dim0 = { { 3, 4, 5 }, { 0, 1, 2 } },
  argwhere = { { 0, 1 }, { 1, 0 } },
  cnz = 3,
  cnz_1 = { 2, 1 },
  cnz_01 = 3,
  ss_left = { { 0, 0, 1 }, { 4, 5, 6 }, { 6, 0, 4 } },
  ss_right = { { 0, 1, 4 }, { 4, 6, 6 }, { 6, 0, 5 } },
  ss_nanseq = { 3, 1, 3 },
  ss_nd = { { 1, 3, 4 }, { 0, 1, 3 } },
  ss_nd_right = { { 2, 3, 4 }, { 0, 2, 4 } },
  ss_sorter = { 1, 3 },
  ss_scalar = 4,
  ss_scalar_int = 1,
  ss_i32 = true,
  bucketize = { { 0, 0, 2 }, { 3, 4, 5 } },
  bucketize_right = { { 0, 1, 3 }, { 3, 5, 5 } },
}


describe("tensor_index", function()
  it("copies and fills slices as index_copy and index_fill, in place and not", function()
    local s, src = seq({ 3, 4 }), seq({ 2, 4 }, 20)
    local y = s:index_copy(1, long({ 2, 0 }), src)
    near(y:totable(), TORCH.index_copy_1, TOL)
    backward(y)
    near(s.grad:totable(), TORCH.index_copy_1_gs, TOL)
    near(src.grad:totable(), TORCH.index_copy_1_gsrc, TOL)
    local t = seq({ 3, 4 }):detach()
    assert.equal(t, t:index_copy_(2, long({ 3, 1 }), seq({ 3, 2 }, 20):detach()))
    near(t:totable(), TORCH.index_copy_2, TOL)
    s = seq({ 3, 4 })
    y = graphids.index_fill(s, 2, long({ -1, 0 }), -2.5)
    near(y:totable(), TORCH.index_fill, TOL)
    backward(y)
    near(s.grad:totable(), TORCH.index_fill_g, TOL)
    local i = graphids.arange(6):reshape({ 2, 3 })
    assert.same(TORCH.index_fill_int, i:index_fill_(1, long(1), 9):totable())
    -- through a view, into its base; an empty index changes nothing
    local base = graphids.zeros(2, 3)
    base:t():index_fill_(1, long({ 1 }), 7)
    assert.same({ { 0, 7, 0 }, { 0, 7, 0 } }, base:totable())
    assert.same({ { 0, 7, 0 }, { 0, 7, 0 } }, base:index_fill_(1, long({}), 1):totable())
    assert.same({ 0, 3 }, graphids.zeros(0, 3):index_copy(1, long({}), graphids.zeros(0, 3)).shape)
  end)

  it("puts values at index tuples as index_put_, broadcasting and accumulating", function()
    local s, v = seq({ 3, 4 }), seq({ 2, 2 }, 30)
    local y = s:index_put({ long({ { 0 }, { 2 } }), long({ 1, -1 }) }, v)
    near(y:totable(), TORCH.index_put, TOL)
    backward(y)
    near(s.grad:totable(), TORCH.index_put_gs, TOL)
    near(v.grad:totable(), TORCH.index_put_gv, TOL)
    s, v = seq({ 3, 2 }), seq({ 4, 2 }, 30)
    y = s:index_put({ long({ 1, 0, 1, 1 }) }, v, true)
    near(y:totable(), TORCH.index_put_acc, TOL)
    backward(y)
    near(s.grad:totable(), TORCH.index_put_acc_gs, TOL)
    near(v.grad:totable(), TORCH.index_put_acc_gv, TOL)
    local t = seq({ 3, 2 }):detach()
    assert.equal(t, t:index_put_({ long({ 1, 0, 1, 1 }) }, seq({ 4, 2 }, 30):detach(), true))
    near(t:totable(), TORCH.index_put_acc, TOL)
    local m = graphids.zeros(2, 3)
    m:index_put_({ graphids.tensor({ { true, false, true }, { false, true, false } }) }, graphids.tensor({ 1,
      2, 3 }))
    assert.same(TORCH.index_put_mask, m:totable())
    assert.same(TORCH.index_put_rows, graphids.zeros(3, 2, 2):index_put_({ long({ 2, 0 }) },
      graphids.tensor({ 5, 6 }))
      :totable())
    -- a transposed view is written through to its base; nothing selected writes nothing
    local base = graphids.zeros(2, 3)
    base:t():index_put_({ long({ 0, 2 }), long({ 1, 0 }) }, 4)
    assert.same({ { 0, 0, 4 }, { 4, 0, 0 } }, base:totable())
    assert.same({ 0, 0, 0 }, graphids.zeros(3):index_put_({ long({}) }, 1):totable())
  end)

  it("reduces scattered values as scatter_reduce, gradients included", function()
    local idx = long({ { 0, 0, 3 }, { 1, 3, 3 } })
    for _, reduce in ipairs({ "sum", "prod", "mean", "amax", "amin" }) do
      for _, inc in ipairs({ true, false }) do
        local key = "sr_" .. reduce .. (inc and "_self" or "_noself")
        local s, src = seq({ 2, 4 }), seq({ 2, 3 }, 10)
        local y = s:scatter_reduce(2, idx, src, reduce, { include_self = inc })
        near(y:totable(), TORCH[key], TOL, key)
        backward(y)
        near(s.grad:totable(), TORCH[key .. "_gs"], TOL, key .. " self grad")
        near(src.grad:totable(), TORCH[key .. "_gsrc"], TOL, key .. " src grad")
      end
    end
    -- an index narrower than src reads src's leading part
    near(seq({ 2, 4 }):scatter_reduce(2, idx, seq({ 2, 4 }, 10), "sum"):totable(), TORCH.sr_narrow, TOL)
    -- along dim 1, with zeros among the factors of a product (one zero, and two)
    local idx0 = long({ { 1, 0, 1 }, { 1, 1, 1 }, { 0, 1, 1 } })
    for _, reduce in ipairs({ "prod", "amax", "mean" }) do
      local key = "sr0_" .. reduce
      local s, src = seq({ 2, 3 }), f64({ { 2, 0, 3 }, { 0.5, 4, 0 }, { 1.5, -1, 2 } }):requires_grad_()
      local y = graphids.scatter_reduce(s, 1, idx0, src, reduce)
      near(y:totable(), TORCH[key], TOL, key)
      backward(y)
      near(s.grad:totable(), TORCH[key .. "_gs"], TOL, key .. " self grad")
      near(src.grad:totable(), TORCH[key .. "_gsrc"], TOL, key .. " src grad")
    end
    -- integers: the mean floors, as torch's
    assert.same(TORCH.sr_int_mean, long({ 10, 1, 1 }):scatter_reduce(1, long({ 0, 0, 1 }), long({ 1, 2, 4 }),
      "mean")
      :totable())
    assert.same(TORCH.sr_int_mean_noself, long({ 10, 1, 1 }):scatter_reduce(1, long({ 0, 0, 1 }),
      long({ -1, -2, 4 }), "mean", { include_self = false }):totable())
    -- ... and keeps the tensor's integer dtype (torch: int32 and uint8 stay so; 600 wraps in u8)
    local int_cases = { { "i32", { 10, 20 }, { 0, 1 }, { 1, 2 }, { 5, 11 } },
      { "u8", { 200 }, { 0, 0 }, { 200, 200 }, { 29 } } }
    for _, case in ipairs(int_cases) do
      local dt, own, at, src, want = table.unpack(case)
      local r = graphids.tensor(own, { dtype = dt }):scatter_reduce(1, long(at),
        graphids.tensor(src, { dtype = dt }), "mean")
      assert.equal(dt, r.dtype)
      assert.same(want, r:totable())
    end
    assert.same(TORCH.sr_int_prod, long({ 2, 3, 5 }):scatter_reduce(1, long({ 0, 0, 2, 0 }), long({ 7, -1, 4,
      3 }),
      "prod"):totable())
    assert.same(TORCH.sr_int_amin, long({ 2, 3, 5 }):scatter_reduce(1, long({ 0, 0, 2, 0 }), long({ 7, -1, 4,
      3 }),
      "amin", { include_self = false }):totable())
    -- a product over many values per position (several halving rounds) and none
    local many = graphids.full({ 37 }, 1.1, { dtype = "f64" })
    near(graphids.ones(2, { dtype = "f64" }):scatter_reduce(1, graphids.zeros(37, { dtype = "i64" }), many,
      "prod")
      :totable(), { 1.1 ^ 37, 1 }, 1e-12)
    assert.same({ 1, 2 }, graphids.tensor({ 1.0, 2 }):scatter_reduce(1, long({}), graphids.zeros(0), "prod")
      :totable())
    -- in place; ties share amax's gradient evenly, and include_self=false counts only src's ties
    -- (torch also counts self's value there when it equals the result)
    local t = graphids.tensor({ 1.0, 2, 3 })
    assert.equal(t, t:scatter_reduce_(1, long({ 2, 2 }), graphids.tensor({ 4.0, 5 }), "sum"))
    assert.same({ 1, 2, 12 }, t:totable())
    local s, src = f64({ 2, 0, 7 }):requires_grad_(), f64({ 2, 2, -1 }):requires_grad_()
    s:scatter_reduce(1, long({ 0, 0, 1 }), src, "amax", { include_self = false }):sum():backward()
    assert.same({ 0, 0, 1 }, s.grad:totable())
    assert.same({ 0.5, 0.5, 1 }, src.grad:totable())
  end)

  it("gathers with broadcasting as take_along_dim", function()
    local x = seq({ 2, 3 })
    local y = graphids.take_along_dim(x, long({ { 0, 2, 2, 1 } }), 2)
    assert.same({ 2, 4 }, y.shape)
    near(y:totable(), TORCH.take, TOL)
    backward(y)
    near(x.grad:totable(), TORCH.take_g, TOL)
    local a = graphids.arange(6):reshape({ 2, 3 })
    assert.same(TORCH.take_flat, a:take_along_dim(long({ { 5, 0 }, { 0, 2 } })):totable())
    assert.same(TORCH.take_dim0, a:take_along_dim(long({ { 1 }, { 0 } }), 1):totable())
    assert.same({ 2, 0 }, a:take_along_dim(graphids.zeros(1, 0, { dtype = "i64" }), 2).shape)
  end)

  it("finds and counts non-zeros as argwhere and count_nonzero", function()
    assert.same(TORCH.argwhere, graphids.tensor({ { 0, 1.5 }, { NAN, 0 } }):argwhere():totable())
    local cz = graphids.tensor({ { 0, 1, NAN }, { 0, 0, 2 } })
    local n = cz:count_nonzero()
    assert.same({ "i64", TORCH.cnz }, { n.dtype, n:item() })
    assert.same(TORCH.cnz_1, graphids.count_nonzero(cz, 2):totable()) -- (torch's dim 1)
    assert.same(TORCH.cnz_01, cz:count_nonzero({ 1, -1 }):item())
    assert.same({ 1, 0 }, graphids.tensor({ { true, false }, { false, false } }):count_nonzero(2):totable())
    assert.same({ 0, 1 }, graphids.argwhere(graphids.zeros(0)).shape)
  end)

  it("searches sorted sequences as searchsorted and bucketize", function()
    local sq = graphids.tensor({ 1, 2, 2, 2, 5, 9 }, { dtype = "f64" })
    local vals = graphids.tensor({ { 0, 1, 2 }, { 3, 9, 10 }, { NAN, -1, 5 } }, { dtype = "f64" })
    assert.same(TORCH.ss_left, graphids.searchsorted(sq, vals):totable())
    assert.same(TORCH.ss_right, sq:searchsorted(vals, { right = true }):totable())
    assert.same(TORCH.ss_right, sq:searchsorted(vals, { side = "right" }):totable())
    assert.same(TORCH.ss_nanseq, graphids.searchsorted(graphids.tensor({ 1, 2, NAN }), graphids.tensor({ NAN,
      2, 5 }))
      :totable())
    local sq2 = long({ { 1, 3, 5, 7 }, { 2, 4, 6, 8 } })
    local v2 = long({ { 3, 6, 9 }, { 1, 4, 8 } })
    assert.same(TORCH.ss_nd, graphids.searchsorted(sq2, v2):totable())
    assert.same(TORCH.ss_nd_right, graphids.searchsorted(sq2, v2, { side = "right" }):totable())
    local uns = graphids.tensor({ 5, 1, 9, 2 })
    assert.same(TORCH.ss_sorter, graphids.searchsorted(uns, graphids.tensor({ 2, 6 }),
      { sorter = uns:argsort() })
      :totable())
    local r = graphids.searchsorted(sq, 2.5)
    assert.same({ {}, TORCH.ss_scalar }, { r.shape, r:item() })
    assert.equal(TORCH.ss_scalar_int, graphids.searchsorted(long({ 1, 3, 5 }), 3):item())
    assert.equal("i32", graphids.searchsorted(sq, vals, { out_int32 = true }).dtype)
    assert.same({ 0, 0 }, graphids.searchsorted(graphids.zeros(0), graphids.ones(2)):totable())
    local bnd, inp = long({ 1, 3, 5, 7, 9 }), long({ { 0, 1, 5 }, { 6, 9, 10 } })
    assert.same(TORCH.bucketize, graphids.bucketize(inp, bnd):totable())
    assert.same(TORCH.bucketize_right, inp:bucketize(bnd, { right = true }):totable())
    -- a long sequence: every insertion point of a sorted random sequence, checked by counting
    local big = graphids.rand(1000, { dtype = "f64" }):sort()
    local probe = graphids.rand(50, { dtype = "f64" })
    local want = big:reshape({ 1, 1000 }):lt(probe:reshape({ 50, 1 })):sum(2)
    assert.same(want:totable(), big:searchsorted(probe):totable())
  end)

  it("refuses bad arguments, naming the function", function()
    local x = graphids.zeros(3, 2)
    -- errors from the parts of a composed function name it, at the caller's line
    local u8 = graphids.zeros(2, { dtype = "u8" })
    helpers.errors_at_caller("index_fill: value %-1 does not fit in u8", u8.index_fill, u8, 1, long({ 0 }),
      -1)
    helpers.errors_at_caller("index_fill_: value %-1 does not fit in u8", u8.index_fill_, u8, 1, long({ 0 }),
      -1)
    local ex = graphids.zeros(1, 3):expand(2, 3)
    helpers.errors_at_caller("index_put_: the target of shape %[2,3%] is expanded", ex.index_put_, ex,
      { long({ 0 }) }, graphids.tensor(1.0))
    helpers.errors_at_caller("index_put_: the target of shape %[2,3%] is expanded", ex.index_put_, ex,
      { long({ 0 }) }, graphids.tensor(1.0), true)
    errors("index_copy_: index holds 3, out of range for a dim of size 3 %(valid: 0..2%)", x.index_copy_, x,
      1,
      long({ 3 }), graphids.zeros(1, 2))
    errors("index_copy_: index holds %-1, out of range", x.index_copy_, x, 1, long({ -1 }), graphids.zeros(1,
      2))
    errors("index_copy: source of shape %[2,2%] does not match %[1,2%]", x.index_copy, x, 1, long({ 0 }),
      graphids.zeros(2, 2))
    errors("index_copy: source has dtype f64, expected self's %(f32%)", x.index_copy, x, 1, long({ 0 }),
      graphids.zeros(1, 2, { dtype = "f64" }))
    errors("index_copy: index must be an i64 or i32 tensor, got f32", x.index_copy, x, 1, graphids.zeros(1),
      graphids.zeros(1, 2))
    errors("index_fill_: index holds %-4, out of range for a dim of size 3 %(valid: %-3..2%)", x.index_fill_,
      x, 1,
      long({ -4 }), 1)
    errors("index_fill: dim 3 out of range for a tensor of 2 dims", x.index_fill, x, 3, long({ 0 }), 1)
    errors("index_fill: value must be a number, a boolean or a one%-element tensor, got string",
      x.index_fill, x,
      1, long({ 0 }), "a")
    errors("index_fill_: a tensor that requires grad cannot be modified in place", function()
      graphids.zeros(2, { requires_grad = true }):index_fill_(1, long({ 0 }), 1)
    end)
    errors("index_put_: the index for dim 2 holds 2, out of range for a dim of size 2", x.index_put_, x,
      { long({ 0 }), long({ 2 }) }, 1)
    errors("index_put_: indices must be a Lua list of index tensors, got a tensor %(wrap it: {index}%)",
      x.index_put_, x, long({ 0 }), 1)
    errors("index_put_: 3 index tensors given for a tensor of 2 dims", x.index_put_, x,
      { long({ 0 }), long({ 0 }), long({ 0 }) }, 1)
    errors("index_put_: shapes %[2%] and %[3%] do not broadcast", x.index_put_, x, { long({ 0, 1 }),
      long({ 0, 1, 1 }) }, 1)
    errors("index_put_: values of shape %[3%] do not broadcast to %[1,2%]", x.index_put_, x, { long({ 0 }) },
      graphids.ones(3))
    errors("index_put: indices%[1%] must be an i64, i32 or bool tensor, got f32", x.index_put, x,
      { graphids.zeros(1) }, 1)
    errors("scatter_reduce: reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got max",
      x.scatter_reduce,
      x, 1, long({ { 0 } }), x, "max")
    errors("scatter_reduce: index holds 3, out of range for a dim of size 3", x.scatter_reduce, x, 1,
      long({ { 3 } }), x, "sum")
    errors("scatter_reduce: index %[3%] must have self %[3,2%]'s and src %[3,2%]'s number of dims",
      x.scatter_reduce, x, 1, long({ 0, 1, 2 }), x, "sum")
    errors("scatter_reduce: unknown option 'include' %(did you mean 'include_self'%?%)", x.scatter_reduce, x,
      1,
      long({ { 0 } }), x, "sum", { include = true })
    errors("scatter_reduce: src has dtype f64, expected self's %(f32%)", x.scatter_reduce, x, 1,
      long({ { 0 } }),
      x:double(), "sum")
    errors("scatter_reduce_: a tensor that requires grad", function()
      local w = graphids.zeros(2, { requires_grad = true })
      w:scatter_reduce_(1, long({ 0 }), graphids.ones(1), "sum")
    end)
    errors("take_along_dim: indices holds 2, out of range for a dim of size 2", x.take_along_dim, x,
      long({ { 2 } }), 2)
    errors("take_along_dim: indices holds %-1, out of range", x.take_along_dim, x, long({ -1 }))
    errors("take_along_dim: indices %[1%] must have the number of dims of self %[3,2%]", x.take_along_dim, x,
      long({ 0 }), 1)
    errors("take_along_dim: shapes %[3,1%] and %[2,1%] do not broadcast", x.take_along_dim, x, long({ { 0 },
      { 0 } }),
      2)
    errors("count_nonzero: dim %-2 is given twice", x.count_nonzero, x, { 1, -2 })
    errors("searchsorted: values %[2%] must share the leading dims of the sorted sequence %[2,3%]",
      graphids.searchsorted, graphids.zeros(2, 3), graphids.zeros(2))
    errors("searchsorted: side='left' and right=true contradict each other", graphids.searchsorted,
      graphids.zeros(3), graphids.zeros(2), { side = "left", right = true })
    errors("searchsorted: side must be 'left' or 'right', got up", graphids.searchsorted, graphids.zeros(3),
      graphids.zeros(2), { side = "up" })
    errors("searchsorted: unknown option 'rigth' %(did you mean 'right'%?%)", graphids.searchsorted,
      graphids.zeros(3), graphids.zeros(2), { rigth = true })
    errors("searchsorted: sorter holds 3, out of range", graphids.searchsorted, graphids.zeros(3),
      graphids.zeros(2), { sorter = long({ 0, 1, 3 }) })
    errors("bucketize: boundaries must be 1%-D, got shape %[1,3%]", graphids.bucketize, graphids.zeros(2),
      graphids.zeros(1, 3))
    errors("bucketize: unexpected argument #4 %(number%)", graphids.bucketize, graphids.zeros(2),
      graphids.zeros(3), {}, 1)
    local line = debug.getinfo(1, "l").currentline + 1
    local ok, err = pcall(function() local r = x:index_fill(1, long({ 9 }), 0) return r end)
    assert.is_false(ok)
    assert.equal("spec/ops/tensor_index_spec.lua:" .. line .. ": index_fill: index holds 9, out of range "
      .. "for a dim of size 3 (valid: -3..2)", err)
  end)
end)
