-- graphids.nn.graph: message-passing primitives against hand-computed values (PyG semantics),
-- their bad-input errors, and gradients checked in f64.
local graphids = require "graphids"
local G = require "graphids.nn.graph"
local errors_at_caller = require("helpers").errors_at_caller

local function T(v, dtype)
  return graphids.tensor(v, { dtype = dtype or "f32" })
end

local function close(a, b, tol)
  return graphids.allclose(a, b, { atol = tol or 1e-6, rtol = tol or 1e-6 })
end

-- 4 nodes, 5 edges: 0->1, 2->1, 3->1, 1->2, 2->2 (a self-loop); node 0 and 3 receive nothing.
local EI = { { 0, 2, 3, 1, 2 }, { 1, 1, 1, 2, 2 } }

describe("graph.gather / scatter", function()
  it("gather picks rows", function()
    local x = T({ { 1, 2 }, { 3, 4 }, { 5, 6 } })
    assert.is_true(G.gather(x, T({ 2, 0, 2 }, "i64")) == T({ { 5, 6 }, { 1, 2 }, { 5, 6 } }))
  end)

  it("scatter sums, averages, takes max and min; empty rows give 0", function()
    local src = T({ { 1, -1 }, { 2, 5 }, { 4, -3 }, { 8, 0 } })
    local idx = T({ 0, 2, 0, 2 }, "i64")
    assert.is_true(G.scatter(src, idx, 4, "sum") == T({ { 5, -4 }, { 0, 0 }, { 10, 5 }, { 0, 0 } }))
    assert.is_true(G.scatter(src, idx, 4) == G.scatter(src, idx, 4, "sum"))
    assert.is_true(G.scatter(src, idx, 4, "mean") ==
      T({ { 2.5, -2 }, { 0, 0 }, { 5, 2.5 }, { 0, 0 } }))
    assert.is_true(G.scatter(src, idx, 3, "max") == T({ { 4, -1 }, { 0, 0 }, { 8, 5 } }))
    assert.is_true(G.scatter(src, idx, 3, "min") == T({ { 1, -3 }, { 0, 0 }, { 2, 0 } }))
    -- dim_size defaults to max(index) + 1
    assert.are.same({ 3, 2 }, G.scatter(src, idx, nil, "sum"):size())
  end)

  it("scatter rejects a bad reduce, an index out of range and a bad dim_size", function()
    local src = T({ { 1 }, { 2 } })
    assert.has_error(function() G.scatter(src, T({ 0, 1 }, "i64"), 2, "prod") end,
      "scatter: reduce must be one of sum, mean, max, min, got prod")
    assert.has_error(function() G.scatter(src, T({ 0, 5 }, "i64"), 2, "sum") end)
    assert.has_error(function() G.scatter(src, T({ 0, 1 }, "i64"), -1) end,
      "scatter: dim_size must be a non-negative integer, got -1")
  end)

  it("name themselves, not the op they are built of, at the caller's line", function()
    -- (segment_sum, segment_softmax and index_select check the index: their errors keep the
    -- value and position under the caller's function)
    local src = T({ { 1 }, { 2 }, { 3 } })
    local bad, neg = T({ 0, 7, 1 }, "i64"), T({ 0, 1, -1 }, "i64")
    errors_at_caller("^[^ ]+ scatter: index 7 out of range %[0, 3%) at position 1 %(0%-based%)$",
      G.scatter, src, bad, 3)
    errors_at_caller("^[^ ]+ scatter: index %-1 out of range %[0, 3%) at position 2", G.scatter, src,
      neg, 3, "mean")
    errors_at_caller("^[^ ]+ scatter: index has shape %[2%], expected %[3%]", G.scatter, src,
      T({ 0, 1 }, "i64"))
    errors_at_caller("^[^ ]+ softmax: index 7 out of range %[0, 3%) at position 1", G.softmax, src,
      bad, 3)
    errors_at_caller("^[^ ]+ softmax: index %-1 out of range", G.softmax, src, neg)
    errors_at_caller("^[^ ]+ gather: index 7 out of range %[0, 3%) at position 1 %(0%-based%)$",
      G.gather, src, bad)
    errors_at_caller("^[^ ]+ gather: index must be an i64 or i32 index tensor, got f32", G.gather,
      src, T({ 0 }))
  end)
end)

describe("graph.softmax", function()
  it("normalises within each group, per column", function()
    local src = T({ { 0, 1 }, { math.log(3), 2 }, { 5, 3 } })
    local out = G.softmax(src, T({ 1, 1, 0 }, "i64"), 3)
    local e1, e2 = math.exp(1), math.exp(2)
    assert.is_true(close(out, T({ { 0.25, e1 / (e1 + e2) }, { 0.75, e2 / (e1 + e2) }, { 1, 1 } })))
  end)
end)

describe("graph.degree", function()
  it("counts rows per node as f32 by default", function()
    local d = G.degree(T(EI[2], "i64"), 4)
    assert.are.equal("f32", d.dtype)
    assert.is_true(d == T({ 0, 3, 2, 0 }))
    assert.is_true(G.degree(T(EI[1], "i64"), nil, "i64") == T({ 1, 1, 2, 1 }, "i64"))
  end)

  it("rejects an index beyond num_nodes and a float index", function()
    assert.has_error(function() G.degree(T({ 0, 4 }, "i64"), 3) end,
      "degree: index value 4 out of range [0, 3) at position 1 (0-based)")
    assert.has_error(function() G.degree(T({ 0, 1 }), 3) end,
      "degree: index must be an i64 or i32 tensor, got f32")
  end)
end)

describe("graph self-loops", function()
  it("remove_self_loops drops (i, i) edges and their attributes, keeping order", function()
    local ea = T({ { 1 }, { 2 }, { 3 }, { 4 }, { 5 } })
    local ei, a = G.remove_self_loops(T(EI, "i64"), ea)
    assert.is_true(ei == T({ { 0, 2, 3, 1 }, { 1, 1, 1, 2 } }, "i64"))
    assert.is_true(a == T({ { 1 }, { 2 }, { 3 }, { 4 } }))
    local ei2, none = G.remove_self_loops(T({ { 0 }, { 1 } }, "i64"))
    assert.is_true(ei2 == T({ { 0 }, { 1 } }, "i64"))
    assert.is_nil(none)
  end)

  it("add_self_loops appends one loop per node; fill 1 (PyG's), mean per target node, or a value", function()
    local ea = T({ { 1, 0 }, { 2, 0 }, { 3, 3 }, { 4, 1 }, { 6, 1 } })
    local _, ones = G.add_self_loops(T(EI, "i64"), ea, 4)
    assert.is_true(ones:narrow(1, 6, 4) == graphids.ones({ 4, 2 }))
    -- PyG's keywords as an options table (PyG's positional order is fill_value, num_nodes)
    local _, kw = G.add_self_loops(T(EI, "i64"), ea, { fill_value = 2.5, num_nodes = 4 })
    assert.is_true(kw:narrow(1, 6, 4) == graphids.full({ 4, 2 }, 2.5))
    assert.has_error(function() G.add_self_loops(T(EI, "i64"), ea, { fill = 1 }) end,
      "add_self_loops: unknown option 'fill' (did you mean 'fill_value'?)")
    local ei, a = G.add_self_loops(T(EI, "i64"), ea, 4, "mean")
    assert.is_true(ei == T({ { 0, 2, 3, 1, 2, 0, 1, 2, 3 }, { 1, 1, 1, 2, 2, 0, 1, 2, 3 } }, "i64"))
    assert.is_true(a == T({ { 1, 0 }, { 2, 0 }, { 3, 3 }, { 4, 1 }, { 6, 1 },
      { 0, 0 }, { 2, 1 }, { 5, 1 }, { 0, 0 } }))
    local _, filled = G.add_self_loops(T(EI, "i64"), ea, 4, 7.5)
    assert.is_true(filled:narrow(1, 6, 4) == graphids.full({ 4, 2 }, 7.5))
    local ei3, none = G.add_self_loops(T({ { 0 }, { 1 } }, "i64"), nil, 3)
    assert.is_true(ei3 == T({ { 0, 0, 1, 2 }, { 1, 0, 1, 2 } }, "i64"))
    assert.is_nil(none)
    -- an [E, 2] edge list transposed (no view of [2E]), as PyG takes it
    local tr = G.add_self_loops(T({ { 0, 1 }, { 1, 2 }, { 2, 0 } }, "i64"):t(), nil, 3)
    assert.is_true(tr == T({ { 0, 1, 2, 0, 1, 2 }, { 1, 2, 0, 0, 1, 2 } }, "i64"))
  end)

  it("self_loop_attr gives the loops' rows alone, and names a row count that does not fit", function()
    local ea = T({ { 1, 0 }, { 2, 0 }, { 3, 3 }, { 4, 1 }, { 6, 1 } })
    local dst = T(EI, "i64"):select(1, 2)
    assert.is_true(G.self_loop_attr(ea, dst, 4) == T({ { 0, 0 }, { 2, 1 }, { 5, 1 }, { 0, 0 } }))
    assert.is_true(G.self_loop_attr(ea, dst, 4, "max") == T({ { 0, 0 }, { 3, 3 }, { 6, 1 }, { 0, 0 } }))
    assert.is_true(G.self_loop_attr(ea, dst, 4, 7.5) == graphids.full({ 4, 2 }, 7.5))
    assert.has_error(function() G.self_loop_attr(ea:narrow(1, 1, 4), dst, 4) end,
      "self_loop_attr: edge_attr has shape [4, 2], expected 5 rows (one per edge)")
    assert.has_error(function() G.self_loop_attr(ea, dst, 4, "median") end,
      "self_loop_attr: fill_value must be a number or one of mean, sum, max, min, got median")
  end)

  it("add_self_loops on a graph with no edges gives only the loops", function()
    local ei, a = G.add_self_loops(graphids.zeros({ 2, 0 }, { dtype = "i64" }),
      graphids.zeros({ 0, 3 }), 2, "mean")
    assert.is_true(ei == T({ { 0, 1 }, { 0, 1 } }, "i64"))
    assert.is_true(a == graphids.zeros({ 2, 3 })) -- the mean over no incoming edge is 0
  end)

  it("rejects bad edge_index and edge_attr", function()
    assert.has_error(function() G.add_self_loops(T(EI), nil, 4) end,
      "add_self_loops: edge_index must be an i64 or i32 tensor, got f32")
    assert.has_error(function() G.add_self_loops(T({ 0, 1 }, "i64"), nil, 4) end,
      "add_self_loops: edge_index must have shape [2, E], got [2]")
    assert.has_error(function() G.add_self_loops(T(EI, "i64"), nil, 3) end,
      "add_self_loops: edge_index value 3 out of range [0, 3) at position 2 (0-based)")
    assert.has_error(function() G.add_self_loops(T(EI, "i64"), graphids.zeros(4, 2), 4) end,
      "add_self_loops: edge_attr has shape [4, 2], expected 5 rows (one per edge)")
    assert.has_error(function() G.add_self_loops(T(EI, "i64"), graphids.zeros(5, 2), 4, "prod") end,
      "add_self_loops: fill_value must be a number or one of mean, sum, max, min, got prod")
  end)
end)

-- Plain Lua loops: the attention formulas written out element by element.
local function lrelu(v, s)
  return v > 0 and v or s * v
end

local function naive_attention(score, xsrc, ei, N, H, C)
  local E = #ei[1]
  local e = {}
  for k = 1, E do
    e[k] = {}
    for h = 1, H do
      e[k][h] = score(k, h)
    end
  end
  local alpha, out = {}, {}
  for k = 1, E do
    alpha[k] = {}
  end
  for i = 0, N - 1 do
    out[i + 1] = {}
    for h = 1, H do
      local m, z = -math.huge, 0
      for k = 1, E do
        if ei[2][k] == i then m = math.max(m, e[k][h]) end
      end
      for k = 1, E do
        if ei[2][k] == i then z = z + math.exp(e[k][h] - m) end
      end
      local row = {}
      for c = 1, C do row[c] = 0 end
      for k = 1, E do
        if ei[2][k] == i then
          alpha[k][h] = math.exp(e[k][h] - m) / z
          for c = 1, C do
            row[c] = row[c] + alpha[k][h] * xsrc[ei[1][k] + 1][h][c]
          end
        end
      end
      out[i + 1][h] = row
    end
  end
  return out, alpha
end

describe("graph.gatv2_attention / gat_attention", function()
  local N, H, C = 4, 2, 3
  local function inputs(dtype)
    local g = graphids.Generator(5)
    local function r(...) return graphids.randn({ ... }, { generator = g, dtype = dtype }) end
    return r(N, H, C), r(N, H, C), r(#EI[1], H, C), r(H, C)
  end

  it("gatv2_attention matches the formula written out", function()
    local xl, xr, ep, att = inputs("f64")
    local L, R, P, A = xl:totable(), xr:totable(), ep:totable(), att:totable()
    local want_out, want_alpha = naive_attention(function(k, h)
      local s = 0
      for c = 1, C do
        s = s + A[h][c] * lrelu(L[EI[1][k] + 1][h][c] + R[EI[2][k] + 1][h][c] + P[k][h][c], 0.2)
      end
      return s
    end, L, EI, N, H, C)
    local out, alpha = G.gatv2_attention(xl, xr, ep, att, T(EI, "i64"), N)
    for h = 1, H do want_out[1][h] = { 0, 0, 0 } want_out[4][h] = { 0, 0, 0 } end
    assert.is_true(close(out, T(want_out, "f64"), 1e-12))
    assert.is_true(close(alpha, T(want_alpha, "f64"), 1e-12))
    local ref_out, ref_alpha = G.reference.gatv2_attention(xl, xr, ep, att, T(EI, "i64"), N)
    assert.is_true(close(out, ref_out, 1e-12) and close(alpha, ref_alpha, 1e-12))
  end)

  it("gat_attention matches the formula written out", function()
    local x, _, _, _ = inputs("f64")
    local g = graphids.Generator(9)
    local as, ad = graphids.randn({ N, H }, { generator = g, dtype = "f64" }),
      graphids.randn({ N, H }, { generator = g, dtype = "f64" })
    local ae = graphids.randn({ #EI[1], H }, { generator = g, dtype = "f64" })
    local S, D, Ae = as:totable(), ad:totable(), ae:totable()
    local want_out, want_alpha = naive_attention(function(k, h)
      return lrelu(S[EI[1][k] + 1][h] + D[EI[2][k] + 1][h] + Ae[k][h], 0.2)
    end, x:totable(), EI, N, H, C)
    for h = 1, H do want_out[1][h] = { 0, 0, 0 } want_out[4][h] = { 0, 0, 0 } end
    local out, alpha = G.gat_attention(x, as, ad, ae, T(EI, "i64"), N)
    assert.is_true(close(out, T(want_out, "f64"), 1e-12))
    assert.is_true(close(alpha, T(want_alpha, "f64"), 1e-12))
  end)

  it("gradients agree with central differences (f64)", function()
    local xl, xr, ep, att = inputs("f64")
    local ei = T(EI, "i64")
    for _, t in ipairs({ xl, xr, ep, att }) do t.requires_grad = true end
    assert.is_true(graphids.autograd.gradcheck(function(a, b, c, d)
      local out, alpha = G.gatv2_attention(a, b, c, d, ei, N)
      return out:sum() + (alpha * alpha):sum()
    end, { xl, xr, ep, att }))
    local as = graphids.randn({ N, H }, { dtype = "f64", requires_grad = true })
    local ad = graphids.randn({ N, H }, { dtype = "f64", requires_grad = true })
    assert.is_true(graphids.autograd.gradcheck(function(a, b, c)
      local out, alpha = G.gat_attention(a, b, c, nil, ei, N)
      return (out * out):sum() + (alpha * alpha):sum()
    end, { xl, as, ad }))
  end)

  it("rejects mismatched shapes", function()
    local xl, xr, ep, att = inputs("f32")
    assert.has_error(function() G.gatv2_attention(xl, xr, ep:narrow(1, 1, 4), att, T(EI, "i64"), N) end,
      "gatv2_attention: edge_proj has shape [4, 2, 3], expected 5 rows")
    assert.has_error(function() G.gatv2_attention(xl, xr, ep, att, T(EI), N) end,
      "gatv2_attention: edge_index must be an i64 or i32 tensor, got f32")
    assert.has_error(function() G.gatv2_attention(xl:view(N, -1), xr, ep, att, T(EI, "i64"), N) end,
      "gatv2_attention: x must have shape [N, heads, channels], got [4, 6]")
  end)
end)
