-- graphids.nn.graph_utils -- PyG's edge-list utilities, composed from the core's sort, unique
-- and scatter ops (differentiable in their float inputs), installed on graphids.nn.graph:
--   local ei, ea = G.coalesce(ei, ea, n, "sum")        -- sorted by (row, col), duplicates merged
--   local ei, ea = G.to_undirected(ei, ea, n)          -- both directions, coalesced
--   G.is_undirected(ei, ea, n)                          -- true / false
--   local ei, ea = G.sort_edge_index(ei, ea, n)        -- by (row, col), stable
--   local kept, mask = G.dropout_edge(ei, {p = 0.5, training = true, generator = g})
--   local neg = G.negative_sampling(ei, n, k, {generator = g})   -- non-edges, no self-loops
--   local dense, mask = G.to_dense_batch(x, batch, {fill_value = 0, batch_size =, max_num_nodes =})
-- edge_index is [2, E] i64 of 0-based node numbers; num_nodes defaults to max + 1.
local graphids = require "graphids"
local U = require "graphids.nn._util"

return function(G)
  local check_edge_index = G._check_edge_index

  -- The key base: num_nodes, or max + 1; never below max + 1 (a smaller base would map two
  -- edges to one key and back to an edge the input does not hold).  A negative node number is
  -- an error naming it (its key would alias another edge's).
  local function count(fname, ei, num_nodes)
    local flat = ei:reshape({ -1 }) -- (a transposed edge_index is no view)
    local lo, hi = flat:int_range()
    if lo < 0 then
      local n = math.type(num_nodes) == "integer" and math.max(num_nodes, hi + 1) or hi + 1
      G._check_range(fname, flat, n, "edge_index", 3) -- (levels: count, the utility, its caller)
    end
    if num_nodes == nil then return hi + 1 end
    if math.type(num_nodes) ~= "integer" or num_nodes < 0 then
      error(string.format("%s: num_nodes must be a non-negative integer, got %s", fname,
        tostring(num_nodes)), 3)
    end
    return math.max(num_nodes, hi + 1)
  end

  local function check_attr(fname, ei, ea)
    if ea ~= nil and (not graphids.is_tensor(ea) or #ea.shape < 1 or ea.shape[1] ~= ei.shape[2]) then
      error(string.format("%s: edge_attr must be a tensor of one row per edge (%d)", fname, ei.shape[2]), 3)
    end
  end

  -- One key per edge, row * n + col: its order is (row, col) order.
  local function keys(ei, n)
    return ei:select(1, 1):long() * n + ei:select(1, 2):long()
  end

  local function from_keys(k, n, dtype)
    return graphids.stack({ k // n, k % n }):to(dtype)
  end

  -- Edges sorted by (row, col) with duplicates merged, their attributes reduced (reduce "sum",
  -- "add", "mean", "max", "min"; PyG's coalesce, whose default is "sum").
  function G.coalesce(edge_index, edge_attr, num_nodes, reduce)
    check_edge_index("coalesce", edge_index, 2)
    check_attr("coalesce", edge_index, edge_attr)
    local n = count("coalesce", edge_index, num_nodes)
    if edge_index.shape[2] == 0 then return edge_index, edge_attr end
    local uniq, inverse = graphids.unique(keys(edge_index, math.max(n, 1)), { return_inverse = true })
    local ei = from_keys(uniq, math.max(n, 1), edge_index.dtype)
    if edge_attr == nil then return ei, nil end
    return ei, G.scatter(edge_attr, inverse, uniq.shape[1], reduce or "sum")
  end

  -- Every edge in both directions, coalesced (PyG's to_undirected; reduce "sum" by default).
  function G.to_undirected(edge_index, edge_attr, num_nodes, reduce)
    check_edge_index("to_undirected", edge_index, 2)
    check_attr("to_undirected", edge_index, edge_attr)
    local n = count("to_undirected", edge_index, num_nodes)
    local both = graphids.cat({ edge_index, edge_index:flip(1) }, 2)
    local attr = edge_attr and graphids.cat({ edge_attr, edge_attr }, 1) or nil
    return G.coalesce(both, attr, n, reduce)
  end

  -- Whether every edge (and its attributes) has its reverse, duplicates counted (PyG's: the
  -- sorted edges equal the sorted reversed edges).
  function G.is_undirected(edge_index, edge_attr, num_nodes)
    check_edge_index("is_undirected", edge_index, 2)
    check_attr("is_undirected", edge_index, edge_attr)
    local n = count("is_undirected", edge_index, num_nodes)
    local a, aa = G.sort_edge_index(edge_index, edge_attr, n)
    local b, ba = G.sort_edge_index(edge_index:flip(1), edge_attr, n)
    if not graphids.equal(a, b) then return false end
    return edge_attr == nil or graphids.equal(aa, ba)
  end

  -- Edges (and attributes) in (row, col) order, stable, duplicates kept; sort_by_row = false
  -- orders by (col, row).  PyG's sort_edge_index.
  function G.sort_edge_index(edge_index, edge_attr, num_nodes, sort_by_row)
    check_edge_index("sort_edge_index", edge_index, 2)
    check_attr("sort_edge_index", edge_index, edge_attr)
    local n = math.max(count("sort_edge_index", edge_index, num_nodes), 1)
    local ei = sort_by_row == false and edge_index:flip(1) or edge_index
    local perm = graphids.argsort(keys(ei, n), -1, { stable = true })
    return edge_index:index_select(2, perm), edge_attr and edge_attr:index_select(1, perm) or nil
  end

  -- Drops each edge with probability p when training: the kept edges and the [E] bool mask of
  -- which were kept (PyG's dropout_edge, without force_undirected).
  function G.dropout_edge(edge_index, opts)
    local o = U.options("dropout_edge", opts, { p = 0.5, training = true, generator = U.NONE })
    check_edge_index("dropout_edge", edge_index, 2)
    if type(o.p) ~= "number" or not (o.p >= 0 and o.p <= 1) then
      error("dropout_edge: p must be a probability in [0, 1], got " .. tostring(o.p), 2)
    end
    local E = edge_index.shape[2]
    if not o.training or o.p == 0 then
      return edge_index, graphids.ones({ E }, { dtype = "bool", device = edge_index.device })
    end
    local keep = graphids.rand({ E }, { generator = o.generator, device = edge_index.device }):ge(o.p)
    return edge_index:index_select(2, keep:nonzero():select(2, 1)), keep
  end

  -- Random pairs that are neither edges nor self-loops, for link-prediction negatives (PyG's
  -- negative_sampling): [2, k] i64 on edge_index's device, in random order, no pair twice,
  -- k = num_neg_samples (default: the number of edges) unless the graph has fewer non-edges.
  -- Pair (r, c), r ~= c, is number r * (n - 1) + c - (c > r and 1 or 0) of the n * (n - 1)
  -- candidates.  Up to 2^22 candidates every non-edge is listed and a random subset kept (exact);
  -- beyond, candidates are drawn with replacement, ten rounds at most, the edges and repeats
  -- dropped (PyG's "sparse" method).  opts: generator, force_undirected (PyG's: pairs {r, c}
  -- with neither direction an edge, k // 2 of them drawn, each returned both ways, the drawn
  -- ones first; a drawn ordered pair counts as its unordered one, so each is equally likely).
  -- No bipartite sizes.
  local EXACT_UP_TO = 2 ^ 22
  function G.negative_sampling(edge_index, num_nodes, num_neg_samples, opts)
    local o = U.options("negative_sampling", opts, { generator = U.NONE,
      force_undirected = false })
    local src, dst = check_edge_index("negative_sampling", edge_index, 2)
    local n = count("negative_sampling", edge_index, num_nodes)
    local want = num_neg_samples or edge_index.shape[2]
    if math.type(want) ~= "integer" or want < 0 then
      error("negative_sampling: num_neg_samples must be a non-negative integer, got " ..
        tostring(want), 2)
    end
    local undirected = o.force_undirected
    local function encode(r, c) return r * (n - 1) + c - c:gt(r):long() end
    local function decode(idx)
      local r, c = idx // (n - 1), idx % (n - 1)
      return r, c + c:ge(r):long()
    end
    -- A pair as the one it stands for: itself, or undirected its (min, max) order.
    local function canonical(r, c)
      if not undirected then return encode(r, c) end
      return encode(graphids.minimum(r, c), graphids.maximum(r, c))
    end
    local population = undirected and n * (n - 1) // 2 or n * (n - 1)
    if undirected then want = want // 2 end
    return graphids.no_grad(function()
      local s, d = src:long():cpu(), dst:long():cpu()
      local loop = s:eq(d)
      local existing = canonical(s, d):masked_select(loop:logical_not()):unique()
      want = math.min(want, population - existing.shape[1])
      local draw = { dtype = "i64", generator = o.generator }
      local found
      if n * (n - 1) <= EXACT_UP_TO then
        found = graphids.arange(0, n * (n - 1))
        if undirected then
          local r, c = decode(found)
          found = found:masked_select(r:lt(c))
        end
        found = found:masked_select(graphids.isin(found, existing):logical_not())
      else
        found = graphids.zeros({ 0 }, { dtype = "i64" })
        for _ = 1, 10 do
          if found.shape[1] >= want then break end
          local k = math.ceil((want - found.shape[1]) * 1.5 * population /
            (population - existing.shape[1])) + 16
          local cand = graphids.randint(0, n * (n - 1), { k }, draw)
          if undirected then cand = canonical(decode(cand)) end
          cand = cand:masked_select(graphids.isin(cand, existing):logical_not())
          found = graphids.cat({ found, cand }):unique()
        end
      end
      local k = math.min(want, found.shape[1])
      local row, col = decode(found:index_select(1, graphids.randperm(found.shape[1], draw):narrow(1, 1, k)))
      if undirected then
        row, col = graphids.cat({ row, col }), graphids.cat({ col, row })
      end
      return graphids.stack({ row, col }):to(edge_index.device)
    end)
  end

  -- Node rows x [N, ...] of a batch (batch [N] i64 graph numbers, nondecreasing: checked) as a dense
  -- [B, max_nodes, ...] tensor, fill_value where a graph has fewer nodes, and the [B, max_nodes]
  -- bool mask of real nodes (PyG's to_dense_batch).
  function G.to_dense_batch(x, batch, opts)
    local o = U.options("to_dense_batch", opts, { fill_value = 0, max_num_nodes = U.NONE,
      batch_size = U.NONE })
    if not graphids.is_tensor(x) or not graphids.is_tensor(batch) or #batch.shape ~= 1
        or batch.shape[1] ~= x.shape[1] then
      error("to_dense_batch: x must be [N, ...] and batch a 1-D tensor of N graph numbers", 2)
    end
    if batch.dtype ~= "i64" and batch.dtype ~= "i32" then
      error("to_dense_batch: batch must be an i64 or i32 tensor of graph numbers, got " .. batch.dtype, 2)
    end
    for _, key in ipairs({ "batch_size", "max_num_nodes" }) do
      if o[key] ~= nil then G._check_count("to_dense_batch", o[key], key, 2) end
    end
    local N = x.shape[1]
    local lo, hi = batch:int_range()
    if lo < 0 then
      -- (named here, by value and position, rather than by the bincount below)
      G._check_range("to_dense_batch", batch, math.max(o.batch_size or 0, hi + 1), "batch", 2)
    end
    local B = o.batch_size or hi + 1
    if hi >= B then
      error(string.format("to_dense_batch: batch names graph %d, batch_size is %d", hi, B), 2)
    end
    -- The slots below count each graph's rows from its first one, which holds only for a
    -- nondecreasing batch (a graph's rows together, graphs in order): another order would mix
    -- graphs' rows silently (PyG's does).  One comparison of neighbours, one wait.
    if N > 1 then
      local down = batch:narrow(1, 2, N - 1):lt(batch:narrow(1, 1, N - 1))
      if down:any():item() then
        local i = down:long():argmax():item() -- the first decrease: batch[i + 1] < batch[i]
        error(string.format("to_dense_batch: batch must be nondecreasing (each graph's rows "
          .. "together, graphs in order), but batch[%d] = %d follows batch[%d] = %d (0-based)",
          i + 1, batch:select(1, i + 2):item(), i, batch:select(1, i + 1):item()), 2)
      end
    end
    local counts = graphids.bincount(batch:long(), { minlength = B })
    local max_nodes = o.max_num_nodes or (B > 0 and counts:max():item() or 0)
    local start = graphids.cat({ graphids.zeros({ 1 }, { dtype = "i64" }), counts:cumsum(1) }, 1)
    local pos = graphids.arange(0, N, 1) - start:index_select(1, batch:long())
    local fits = pos:lt(max_nodes)
    local slot = (batch:long() * max_nodes + pos):masked_select(fits)
    local rows = fits:nonzero():select(2, 1)
    local tail = {}
    for i = 2, #x.shape do tail[#tail + 1] = x.shape[i] end
    local flat_shape = { B * max_nodes }
    for _, s in ipairs(tail) do flat_shape[#flat_shape + 1] = s end
    local flat = graphids.zeros(flat_shape, { dtype = x.dtype, device = x.device })
      :index_add(1, slot:to(x.device), x:index_select(1, rows:to(x.device)))
    local mask = graphids.zeros({ B * max_nodes }, { dtype = "i64" })
      :index_add(1, slot, graphids.ones({ slot.shape[1] }, { dtype = "i64" })):gt(0)
    local dense_shape = { B, max_nodes }
    for _, s in ipairs(tail) do dense_shape[#dense_shape + 1] = s end
    local out = flat:view(dense_shape)
    if o.fill_value ~= 0 then
      local m = mask:view({ B, max_nodes })
      for _ = 1, #tail do m = m:unsqueeze(-1) end
      out = out:masked_fill(m:logical_not():expand(dense_shape):to(x.device), o.fill_value)
    end
    return out, mask:view({ B, max_nodes }):to(x.device)
  end
end
