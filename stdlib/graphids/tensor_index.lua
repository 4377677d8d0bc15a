-- graphids.tensor_index -- PyTorch's indexing helpers composed from the core's ops (autograd
-- follows the ops they are made of), installed on graphids.Tensor and as module functions by
-- `require "graphids"`:
--   t:index_copy_(dim, index, source)  t:index_fill_(dim, index, value)  (and index_copy, index_fill)
--   t:index_put_(indices, values, accumulate=false)  (and index_put)
--   t:scatter_reduce(dim, index, src, reduce, {include_self=true})  (and scatter_reduce_)
--   take_along_dim(t, indices, dim?)  argwhere(t)  count_nonzero(t, dims?)
--   searchsorted(sorted_sequence, values, {right=false})  bucketize(input, boundaries, {right=false})
-- Dims are 1-based; index data and the positions returned are 0-based, as in torch.  Every index
-- is checked against its dim before anything is written, and an error names the function.
local C = require "graphids.tensor_checks"

local M = {}

local fail = C.fail

local REDUCES = { sum = true, prod = true, mean = true, amax = true, amin = true }

local function copy(list)
  return table.move(list, 1, #list, 1, {})
end

local function install(graphids)
  local T = {}

  -- A shape of n dims, 1 everywhere but `size` at dim d.
  local function along(n, d, size)
    local shape = {}
    for i = 1, n do shape[i] = i == d and size or 1 end
    return shape
  end

  -- The 1-D index of index_copy/index_fill (0-d or 1-D), checked against the dim's size.
  local function slices(fname, t, dim, index, negative, depth)
    C.index(fname, "index", index, depth + 1)
    if index.ndim > 1 then
      fail(fname, "index must be 0-D or 1-D, got shape " .. C.shape_str(index.shape), depth + 1)
    end
    local n = t.ndim == 0 and 1 or t.shape[dim]
    C.in_range(fname, "index", index, n, negative, depth + 1)
    index = index:reshape({ -1 }):long()
    if negative then index = graphids.where(index:lt(0), index + n, index) end
    return index
  end

  -- The scatter index and source of index_copy: source's slice k lands on slice index[k].
  local function copy_args(fname, t, dim, index, source)
    C.tensor(fname, "self", t, 1)
    dim = C.dim(fname, t, dim, 1)
    index = slices(fname, t, dim, index, false, 1)
    C.tensor(fname, "source", source, 1)
    local want = copy(t.shape)
    if t.ndim > 0 then want[dim] = index.shape[1] end
    local ok = #source.shape == #want or (t.ndim == 0 and source:numel() == 1)
    for d = 1, #want do ok = ok and source.shape[d] == want[d] end
    if not ok then
      fail(fname, string.format("source of shape %s does not match %s (self's shape, %d slices along dim %d)",
        C.shape_str(source.shape), C.shape_str(want), index.shape[1], dim), 1)
    end
    if source.dtype ~= t.dtype then
      fail(fname, string.format("source has dtype %s, expected self's (%s)", source.dtype, t.dtype), 1)
    end
    if t.ndim == 0 then return t:reshape({ 1 }), 1, index, source:reshape({ 1 }) end
    local idx = index:reshape(along(t.ndim, dim, index.shape[1])):expand(source.shape)
    return t, dim, idx, source
  end

  -- Copies source's slices along dim into t's slices index[k] (0-based; a slice named twice
  -- gets one of the copies).  In place; index_copy returns a new tensor (differentiable).
  function T.index_copy_(t, dim, index, source)
    local target, d, idx, src = copy_args("index_copy_", t, dim, index, source)
    C.writable("index_copy_", t, 0)
    target:scatter_(d, idx, src)
    return t
  end
  function T.index_copy(t, dim, index, source)
    local target, d, idx, src = copy_args("index_copy", t, dim, index, source)
    return target:scatter(d, idx, src):reshape(t.shape)
  end

  local function fill_args(fname, t, dim, index, value)
    C.tensor(fname, "self", t, 1)
    dim = C.dim(fname, t, dim, 1)
    index = slices(fname, t, dim, index, true, 1)
    local tv = type(value)
    if not (tv == "number" or tv == "boolean" or (graphids.is_tensor(value) and value:numel() == 1)) then
      fail(fname, "value must be a number, a boolean or a one-element tensor, got " .. tv, 1)
    end
    local n = t.ndim == 0 and 1 or t.shape[dim]
    local mask = graphids.zeros({ n }, { dtype = "bool", device = t.device }):scatter_(1, index, true)
    return mask:reshape(along(t.ndim, dim, n))
  end

  -- Fills t's slices index[k] along dim with value (indices may be negative, from the end).
  -- In place; index_fill returns a new tensor (differentiable in t).
  function T.index_fill_(t, dim, index, value)
    local mask = fill_args("index_fill_", t, dim, index, value)
    C.writable("index_fill_", t, 0)
    return t:masked_fill_(mask, value)
  end
  function T.index_fill(t, dim, index, value)
    return t:masked_fill(fill_args("index_fill", t, dim, index, value), value)
  end

  -- The flat positions over t's first k dims named by `indices` (a list of integer tensors, one
  -- per leading dim, broadcast together; a bool mask counts for as many dims as it has), and
  -- the shape values must broadcast to.  Returns positions [count], P (the product of the k
  -- sizes), the indexed shape and the remaining dims.
  local function put_positions(fname, t, indices)
    if type(indices) ~= "table" or graphids.is_tensor(indices) then
      fail(fname, "indices must be a Lua list of index tensors, got " .. (graphids.is_tensor(indices)
        and "a tensor (wrap it: {index})" or type(indices)), 1)
    end
    local list = {}
    for i, idx in ipairs(indices) do
      C.tensor(fname, "indices[" .. i .. "]", idx, 1)
      if idx.dtype == "bool" then
        local first = #list + 1
        for d = 1, idx.ndim do
          if t.shape[first + d - 1] ~= idx.shape[d] then
            fail(fname, string.format("indices[%d], a mask of shape %s, does not match dims %d.. of %s", i,
              C.shape_str(idx.shape), first, C.shape_str(t.shape)), 1)
          end
        end
        local coords = graphids.nonzero(idx)
        for d = 1, idx.ndim do list[#list + 1] = coords:select(2, d) end
      elseif C.is_index(idx) then
        list[#list + 1] = idx
      else
        fail(fname, string.format("indices[%d] must be an i64, i32 or bool tensor, got %s", i, idx.dtype), 1)
      end
    end
    local k = #list
    if k == 0 or k > t.ndim then
      fail(fname, string.format("%d index tensors given for a tensor of %d dims (1..%d allowed)", k, t.ndim,
        t.ndim), 1)
    end
    local shape = list[1].shape
    for i = 2, k do shape = C.broadcast(fname, shape, list[i].shape, 1) end
    local lin, stride = nil, 1
    for d = k, 1, -1 do
      local n = t.shape[d]
      C.in_range(fname, "the index for dim " .. d, list[d], n, true, 1)
      local idx = list[d]:long()
      idx = graphids.where(idx:lt(0), idx + n, idx) * stride
      lin = lin and lin + idx or idx
      stride = stride * n
    end
    local rest = {}
    for d = k + 1, t.ndim do rest[#rest + 1] = t.shape[d] end
    return lin:expand(shape):reshape({ -1 }), stride, shape, rest
  end

  local function put_values(fname, t, values, shape, rest)
    local full = copy(shape)
    for _, n in ipairs(rest) do full[#full + 1] = n end
    local count, r = C.prod(shape), C.prod(rest)
    if type(values) == "number" or type(values) == "boolean" then
      return graphids.full({ count, r }, values, { dtype = t.dtype, device = t.device })
    end
    C.tensor(fname, "values", values, 1)
    local ok, v = pcall(function() return values:to(t.dtype):expand(full) end)
    if not ok then
      fail(fname, string.format("values of shape %s do not broadcast to %s", C.shape_str(values.shape),
        C.shape_str(full)), 1)
    end
    return v:reshape({ count, r })
  end

  -- t[indices[1], ..., indices[k]] = values (torch's index_put_): indices a Lua list of index
  -- tensors (0-based, negative from the end, broadcast together) for t's leading dims, values
  -- broadcast to the selection.  accumulate adds (a position named twice gets both); else a
  -- position named twice gets one of the writes.  In place, through views too.
  function T.index_put_(t, indices, values, accumulate)
    C.tensor("index_put_", "self", t, 0)
    local pos, p, shape, rest = put_positions("index_put_", t, indices)
    local vals = put_values("index_put_", t, values, shape, rest)
    C.writable("index_put_", t, 0)
    local count, r = pos.shape[1], vals.shape[2]
    if count == 0 then return t end
    local ok, view = pcall(t.view, t, { p, r })
    local target = ok and view or t:contiguous():clone():view({ p, r })
    if accumulate then
      target:index_add_(1, pos, vals)
    else
      target:scatter_(1, pos:reshape({ count, 1 }):expand({ count, r }), vals)
    end
    if not ok then t:copy_(target:view(t.shape)) end
    return t
  end
  -- The same into a new tensor, differentiable in t and values.
  function T.index_put(t, indices, values, accumulate)
    C.tensor("index_put", "self", t, 0)
    local pos, p, shape, rest = put_positions("index_put", t, indices)
    local vals = put_values("index_put", t, values, shape, rest)
    local count, r = pos.shape[1], vals.shape[2]
    local flat = t:reshape({ p, r })
    if count == 0 then return t:clone() end
    if accumulate then return flat:index_add(1, pos, vals):reshape(t.shape) end
    return flat:scatter(1, pos:reshape({ count, 1 }):expand({ count, r }), vals):reshape(t.shape)
  end

  -- amax/amin of the values of each segment, its gradient shared evenly by the values equal to
  -- the result (torch's rule for ties).
  local extreme = {}
  for _, which in ipairs({ "amax", "amin" }) do
    local seg = which == "amax" and graphids.segment_max or graphids.segment_min
    extreme[which] = require("graphids.core").autograd.Function {
      name = "ScatterReduce" .. (which == "amax" and "Amax" or "Amin"),
      forward = function(ctx, vals, tgt, n)
        local r = seg(vals, tgt, n)
        ctx.tgt, ctx.n = tgt, n
        ctx:save_for_backward(vals, r)
        return r
      end,
      backward = function(ctx, grad)
        local vals, r = table.unpack(ctx.saved_tensors)
        local hit = vals:eq(r:index_select(1, ctx.tgt)):to(vals.dtype)
        local ties = graphids.segment_sum(hit, ctx.tgt, ctx.n)
        local share = grad / ties:clamp(1, nil)
        return share:index_select(1, ctx.tgt) * hit, nil, nil
      end,
    }
  end

  -- The product of each segment (segments need not be sorted): the values sorted by segment
  -- are multiplied pairwise within their segment until one is left, so each round is a few
  -- tensor ops and there are log2(the largest segment) rounds.  Untouched segments give 1.
  local function segment_prod(vals, tgt, n)
    local order = graphids.argsort(tgt)
    local v, g = vals:index_select(1, order), tgt:index_select(1, order)
    local dev = { device = vals.device }
    while true do
      local count = v.shape[1]
      local per = graphids.bincount(g, { minlength = n })
      local start = per:cumsum(1) - per
      local rank = graphids.arange(0, count, 1, dev) - start:index_select(1, g)
      local _, most = rank:int_range()
      if count == 0 or most == 0 then break end
      local first = graphids.nonzero(rank:remainder(2):eq(0)):reshape({ -1 })
      local has = (rank:index_select(1, first) + 1):lt(per:index_select(1, g:index_select(1, first)))
      local partner = graphids.where(has, first + 1, count)
      local padded = graphids.cat({ v, graphids.ones({ 1 }, { dtype = v.dtype, device = v.device }) }, 1)
      v = padded:index_select(1, first) * padded:index_select(1, partner)
      g = g:index_select(1, first)
    end
    return graphids.ones({ n }, { dtype = vals.dtype, device = vals.device }):scatter(1, g, v)
  end

  local function reduce_args(fname, t, dim, index, src, reduce, opts)
    C.tensor(fname, "self", t, 1)
    dim = C.dim(fname, t, dim, 1)
    C.index(fname, "index", index, 1)
    C.tensor(fname, "src", src, 1)
    if not REDUCES[reduce] then
      fail(fname, "reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got " .. tostring(reduce), 1)
    end
    local o = C.options(fname, opts, { include_self = true }, 1)
    if src.dtype ~= t.dtype then
      fail(fname, string.format("src has dtype %s, expected self's (%s)", src.dtype, t.dtype), 1)
    end
    if t.dtype == "bool" then fail(fname, "bool tensors are not supported", 1) end
    local nd = t.ndim
    local ok = index.ndim == nd and src.ndim == nd
    for d = 1, nd do
      ok = ok and index.shape[d] <= src.shape[d] and (d == dim or index.shape[d] <= t.shape[d])
    end
    if not ok and not (nd == 0 and index:numel() <= 1 and src:numel() == 1) then
      fail(fname, string.format("index %s must have self %s's and src %s's number of dims, be no larger "
        .. "than src in any dim and than self in the dims but %d", C.shape_str(index.shape),
        C.shape_str(t.shape), C.shape_str(src.shape), dim), 1)
    end
    C.in_range(fname, "index", index, nd == 0 and 1 or t.shape[dim], false, 1)
    return dim, o.include_self
  end

  -- out = t, then out[index[i][j]][j] (dim 1) reduced with src[i][j] over every element of
  -- index: "sum", "prod", "mean", "amax" or "amin"; include_self=false leaves t's own values
  -- out of the positions that src reaches (the others keep them).  An integer mean is floored,
  -- as torch's.  Differentiable in t and src (amax/amin share a tie's gradient evenly).
  function T.scatter_reduce(t, dim, index, src, reduce, opts)
    local include_self
    dim, include_self = reduce_args("scatter_reduce", t, dim, index, src, reduce, opts)
    local numel, dev = t:numel(), { device = t.device }
    local ishape = index.shape
    if t.ndim == 0 then ishape = {} end
    -- the flat position in t of each element of index
    local strides, s = {}, 1
    for d = t.ndim, 1, -1 do
      strides[d] = s
      s = s * t.shape[d]
    end
    local tgt = index:long()
    if t.ndim > 0 then
      tgt = tgt * strides[dim]
      for d = 1, t.ndim do
        if d ~= dim and ishape[d] > 1 then
          tgt = tgt + graphids.arange(0, ishape[d], 1, dev):reshape(along(t.ndim, d, ishape[d])) * strides[d]
        end
      end
    end
    tgt = tgt:reshape({ -1 })
    local vals = src
    for d = 1, #ishape do
      if src.shape[d] ~= ishape[d] then vals = vals:narrow(d, 1, ishape[d]) end
    end
    vals = vals:reshape({ -1 })
    local own = t:reshape({ -1 })
    if include_self then
      vals = graphids.cat({ own, vals }, 1)
      tgt = graphids.cat({ graphids.arange(0, numel, 1, dev), tgt }, 1)
    end
    local out
    if reduce == "sum" then
      out = graphids.segment_sum(vals, tgt, numel)
    elseif reduce == "mean" then
      local total = graphids.segment_sum(vals, tgt, numel)
      local count = graphids.bincount(tgt, { minlength = numel }):clamp(1, nil)
      -- an integer mean floors in i64 (the count's dtype) and keeps t's dtype, as torch's; the
      -- quotient is no larger than the total, so it fits (a u8 count could itself wrap)
      out = C.is_float(t) and total / count:to(t.dtype) or graphids.floor_divide(total, count):to(t.dtype)
    elseif reduce == "prod" then
      out = segment_prod(vals, tgt, numel)
    elseif C.is_float(t) then
      out = extreme[reduce](vals, tgt, numel)
    else
      out = (reduce == "amax" and graphids.segment_max or graphids.segment_min)(vals, tgt, numel)
    end
    if not include_self then
      local reached = graphids.bincount(tgt, { minlength = numel }):gt(0)
      out = graphids.where(reached, out, own)
    end
    return out:reshape(t.shape)
  end
  -- The same written into t.
  function T.scatter_reduce_(t, dim, index, src, reduce, opts)
    reduce_args("scatter_reduce_", t, dim, index, src, reduce, opts)
    C.writable("scatter_reduce_", t, 0)
    return t:copy_(T.scatter_reduce(t, dim, index, src, reduce, opts))
  end

  -- gather with broadcasting (torch.take_along_dim): the elements of t at the 0-based
  -- positions `indices` along dim; t and indices have the same number of dims and broadcast in
  -- the others.  Without dim, of the flattened t (a 1-D result).  Negative positions are
  -- refused, as gather's (torch checks them only without a dim).
  function T.take_along_dim(t, indices, dim)
    C.tensor("take_along_dim", "self", t, 0)
    C.index("take_along_dim", "indices", indices, 0)
    if dim == nil or t.ndim == 0 then
      if dim ~= nil then C.dim("take_along_dim", t, dim, 0) end
      C.in_range("take_along_dim", "indices", indices, t:numel(), false, 0)
      return t:reshape({ -1 }):gather(1, indices:reshape({ -1 }))
    end
    dim = C.dim("take_along_dim", t, dim, 0)
    if indices.ndim ~= t.ndim then
      fail("take_along_dim", string.format("indices %s must have the number of dims of self %s",
        C.shape_str(indices.shape), C.shape_str(t.shape)), 0)
    end
    local n = t.shape[dim]
    C.in_range("take_along_dim", "indices", indices, n, false, 0)
    local ts, is = copy(t.shape), copy(indices.shape)
    ts[dim], is[dim] = 1, 1
    local shape = C.broadcast("take_along_dim", ts, is, 0)
    ts, is = copy(shape), copy(shape)
    ts[dim], is[dim] = n, indices.shape[dim]
    return t:expand(ts):gather(dim, indices:expand(is))
  end

  -- torch.argwhere: the [count, ndim] coordinates of the non-zero elements (graphids.nonzero).
  function T.argwhere(t)
    C.tensor("argwhere", "arg 1", t, 0)
    return graphids.nonzero(t)
  end

  -- The number of non-zero elements (NaN counts), over dims (one or a list; nil: all), i64.
  function T.count_nonzero(t, dims)
    C.tensor("count_nonzero", "arg 1", t, 0)
    local nz = t:ne(0)
    if dims == nil then return nz:sum() end
    return nz:sum(C.dims("count_nonzero", t, dims, 0))
  end

  -- For each value, the 0-based position in the sorted last dim of seq where it would be
  -- inserted to keep it sorted: the first position whose element is >= value (right: > value).
  -- seq is 1-D, or [..., n] with values [..., m] sharing its leading dims.  The same binary
  -- search as torch's, in lockstep over every value: log2(n) + 1 rounds of a gather.
  local function search(fname, seq, values, right, out_int32, sorter)
    C.tensor(fname, "the sorted sequence", seq, 1)
    if seq.ndim == 0 then fail(fname, "the sorted sequence must have at least 1 dim, got a 0-d tensor", 1) end
    if type(values) == "number" then
      -- (the sequence's float dtype, else f64 for a float and i64 for an integer)
      local dt = C.is_float(seq) and seq.dtype or (math.type(values) == "float" and "f64" or "i64")
      values = graphids.tensor(values, { dtype = dt, device = seq.device })
    end
    C.tensor(fname, "values", values, 1)
    if seq.ndim > 1 then
      local ok = values.ndim == seq.ndim
      for d = 1, seq.ndim - 1 do ok = ok and values.shape[d] == seq.shape[d] end
      if not ok then
        fail(fname, string.format("values %s must share the leading dims of the sorted sequence %s",
          C.shape_str(values.shape), C.shape_str(seq.shape)), 1)
      end
    end
    if sorter ~= nil then
      C.index(fname, "sorter", sorter, 1)
      if C.shape_str(sorter.shape) ~= C.shape_str(seq.shape) then
        fail(fname, string.format("sorter %s must have the sorted sequence's shape %s",
          C.shape_str(sorter.shape), C.shape_str(seq.shape)), 1)
      end
      C.in_range(fname, "sorter", sorter, seq.shape[seq.ndim], false, 1)
      seq = seq:gather(seq.ndim, sorter:long())
    end
    local n = seq.shape[seq.ndim]
    local lo = graphids.zeros(values.shape, { dtype = "i64", device = values.device })
    local hi = graphids.full(values.shape, n, { dtype = "i64", device = values.device })
    local flat = seq.ndim == 1 and seq
    local len = n
    while len > 0 do
      len = len // 2
      local active = lo:lt(hi)
      local mid = lo + graphids.floor_divide(hi - lo, 2)
      local at = mid:clamp(nil, n - 1)
      local v = flat and flat:index_select(1, at:reshape({ -1 })):reshape(values.shape)
        or seq:gather(seq.ndim, at)
      local go_right = (right and v:gt(values) or v:ge(values)):logical_not()
      lo = graphids.where(active:logical_and(go_right), mid + 1, lo)
      hi = graphids.where(active:logical_and(go_right:logical_not()), mid, hi)
    end
    return out_int32 and lo:int() or lo
  end

  -- torch.searchsorted(sorted_sequence, values, right=, side=, out_int32=, sorter=): values a
  -- tensor or a number (a 0-d result); side "left" or "right" is the same as right=false/true.
  function T.searchsorted(sorted_sequence, values, opts)
    local o = C.options("searchsorted", opts, { right = false, side = C.NONE, out_int32 = false,
      sorter = C.NONE }, 0)
    local right = o.right
    if o.side ~= nil then
      if o.side ~= "left" and o.side ~= "right" then
        fail("searchsorted", "side must be 'left' or 'right', got " .. tostring(o.side), 0)
      end
      if o.right and o.side == "left" then
        fail("searchsorted", "side='left' and right=true contradict each other", 0)
      end
      right = o.side == "right"
    end
    return (search("searchsorted", sorted_sequence, values, right, o.out_int32, o.sorter)) -- (no tail call)
  end

  -- torch.bucketize(input, boundaries, right=, out_int32=): the bucket of each value among the
  -- sorted 1-D boundaries: boundaries[i-1] < x <= boundaries[i] gives i (right=true: the
  -- boundary goes to the next bucket, boundaries[i-1] <= x < boundaries[i]).
  function T.bucketize(input, boundaries, opts)
    local o = C.options("bucketize", opts, { right = false, out_int32 = false }, 0)
    C.tensor("bucketize", "boundaries", boundaries, 0)
    if boundaries.ndim ~= 1 then
      fail("bucketize", "boundaries must be 1-D, got shape " .. C.shape_str(boundaries.shape), 0)
    end
    return (search("bucketize", boundaries, input, o.right, o.out_int32, nil)) -- (no tail call)
  end

  return T
end

function M.install(graphids)
  C.install(graphids, install(graphids))
end

return M
