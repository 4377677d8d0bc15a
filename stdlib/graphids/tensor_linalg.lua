-- graphids.tensor_linalg -- PyTorch's vector and matrix helpers composed from the core's ops
-- (autograd follows the ops they are made of), installed on graphids.Tensor and as module
-- functions by `require "graphids"`:
--   dot(a, b)  mv(m, v)  outer(a, b)  addmv(input, m, v, {beta, alpha})
--   baddbmm(input, b1, b2, {beta, alpha})  tril(t, diagonal=0)  triu(t, diagonal=0)
--   diag(t, diagonal=0)  trace(t)  cdist(x1, x2, p=2)  graphids.einsum(equation, a, b?)
-- Dims are 1-based as everywhere in graphids; a diagonal offset counts as torch's does (0 the
-- main diagonal, > 0 above it, < 0 below).
local C = require "graphids.tensor_checks"

local M = {}

local fail = C.fail

local function same_dtype(fname, a, b, depth)
  if a.dtype ~= b.dtype then
    fail(fname, string.format("arg 2 has dtype %s, expected the dtype of arg 1 (%s)", b.dtype, a.dtype),
      depth + 1)
  end
end

local function ndim_is(fname, what, t, n, depth)
  C.tensor(fname, what, t, depth + 1)
  if t.ndim ~= n then
    fail(fname, string.format("%s must be %d-D, got shape %s", what, n, C.shape_str(t.shape)), depth + 1)
  end
end

-- The letters of one einsum operand made distinct: a letter named twice ("ii") takes the
-- diagonal of its two dims, which then sit last.  Returns the tensor and its letters.
local function einsum_diagonals(graphids, t, letters, k)
  while true do
    local first, second = nil, nil
    for i = 1, #letters do
      for j = i + 1, #letters do
        if first == nil and letters[i] == letters[j] then first, second = i, j end
      end
    end
    if first == nil then return t, letters end
    local n = t.shape[first]
    if t.shape[second] ~= n then
      fail("einsum", string.format("operand %d names '%s' for dims %d and %d of sizes %d and %d", k,
        letters[first], first, second, n, t.shape[second]), 1)
    end
    local perm, rest, shape = {}, {}, {}
    for d = 1, #letters do
      if d ~= first and d ~= second then
        perm[#perm + 1], rest[#rest + 1], shape[#shape + 1] = d, letters[d], t.shape[d]
      end
    end
    perm[#perm + 1], perm[#perm + 2] = first, second
    shape[#shape + 1] = n * n
    local diag = graphids.arange(0, n, 1, { device = t.device }) * (n + 1)
    t = t:permute(perm):reshape(shape):index_select(#shape, diag)
    rest[#rest + 1] = letters[first]
    letters = rest
  end
end

-- The parsed equation: a list of letter lists (one per operand) and the output's letters.
local function einsum_parse(equation, nops)
  if type(equation) ~= "string" then
    fail("einsum", "the equation must be a string, got " .. type(equation), 1)
  end
  local eq = equation:gsub("%s", "")
  if eq:find(".", 1, true) then
    fail("einsum", "ellipsis ('...') is not supported: name every dim with a letter", 1)
  end
  local lhs, rhs = eq:match("^(.-)%->(.*)$")
  lhs = lhs or eq
  local terms = {}
  for term in (lhs .. ","):gmatch("([^,]*),") do terms[#terms + 1] = term end
  if #terms > 2 then
    fail("einsum", string.format("'%s' has %d operands; at most 2 are supported (chain einsum calls)",
      equation, #terms), 1)
  end
  if #terms ~= nops then
    fail("einsum", string.format("'%s' names %d operand(s), %d given", equation, #terms, nops), 1)
  end
  local count, inputs = {}, {}
  for k, term in ipairs(terms) do
    if not term:match("^[%a]*$") then
      fail("einsum", string.format("operand %d's subscripts '%s' must be letters", k, term), 1)
    end
    local letters = {}
    for c in term:gmatch(".") do
      letters[#letters + 1] = c
      count[c] = (count[c] or 0) + 1
    end
    inputs[k] = letters
  end
  local out = {}
  if rhs == nil then -- implicit output: the letters named once, in alphabetical order
    for c, n in pairs(count) do
      if n == 1 then out[#out + 1] = c end
    end
    table.sort(out)
  else
    if not rhs:match("^[%a]*$") then
      fail("einsum", string.format("the output's subscripts '%s' must be letters", rhs), 1)
    end
    local seen = {}
    for c in rhs:gmatch(".") do
      if seen[c] then fail("einsum", string.format("the output names '%s' twice", c), 1) end
      if count[c] == nil then
        fail("einsum", string.format("the output names '%s', which no operand has", c), 1)
      end
      seen[c] = true
      out[#out + 1] = c
    end
  end
  return inputs, out
end

local function position(list)
  local at = {}
  for i, c in ipairs(list) do at[c] = i end
  return at
end

-- t with the dims of the letters that `keep` lacks summed away; returns t and its letters.
local function sum_out(t, letters, keep)
  local dims, rest = {}, {}
  for d, c in ipairs(letters) do
    if keep[c] then rest[#rest + 1] = c else dims[#dims + 1] = d end
  end
  if #dims == 0 then return t, letters end
  return t:sum(dims), rest
end

-- t (with distinct letters, all of them in out) permuted into out's order.
local function arrange(t, letters, out)
  local at, perm, moved = position(letters), {}, false
  for i, c in ipairs(out) do
    perm[i] = at[c]
    moved = moved or perm[i] ~= i
  end
  if not moved then return t end
  return t:permute(perm)
end

-- max |d| over the last dim, every difference that attains it getting the whole gradient
-- (torch's cdist for p = inf; amax would share it among ties).
local largest_difference = require("graphids.core").autograd.Function {
  name = "CdistInf",
  forward = function(ctx, d)
    local r = d:abs():amax(-1)
    ctx:save_for_backward(d, r)
    return r
  end,
  backward = function(ctx, grad)
    local d, r = table.unpack(ctx.saved_tensors)
    local hit = d:abs():eq(r:unsqueeze(-1)):to(d.dtype)
    return grad:unsqueeze(-1) * d:sign() * hit
  end,
}

local function install(graphids)
  local T = {}

  -- The inner product of two 1-D tensors of one dtype (0-d).
  function T.dot(a, b)
    ndim_is("dot", "arg 1", a, 1, 0)
    ndim_is("dot", "arg 2", b, 1, 0)
    same_dtype("dot", a, b, 0)
    if a.shape[1] ~= b.shape[1] then
      fail("dot", string.format("the vectors have %d and %d elements", a.shape[1], b.shape[1]), 0)
    end
    return a:matmul(b)
  end

  -- Matrix [n, m] times vector [m].
  function T.mv(m, v)
    ndim_is("mv", "the matrix", m, 2, 0)
    ndim_is("mv", "the vector", v, 1, 0)
    same_dtype("mv", m, v, 0)
    if m.shape[2] ~= v.shape[1] then
      fail("mv", string.format("matrix %s and vector of %d elements do not match", C.shape_str(m.shape),
        v.shape[1]), 0)
    end
    return m:matmul(v)
  end

  -- [n] x [m] -> [n, m] of a_i * b_j (dtypes promote, as torch's outer).
  function T.outer(a, b)
    ndim_is("outer", "arg 1", a, 1, 0)
    ndim_is("outer", "arg 2", b, 1, 0)
    return a:reshape({ a.shape[1], 1 }) * b:reshape({ 1, b.shape[1] })
  end

  -- beta * input + alpha * (m @ v); input broadcasts to [n]; beta = 0 ignores it (NaN too).
  function T.addmv(input, m, v, opts)
    C.tensor("addmv", "input", input, 0)
    ndim_is("addmv", "the matrix", m, 2, 0)
    ndim_is("addmv", "the vector", v, 1, 0)
    local o = C.options("addmv", opts, { beta = 1, alpha = 1 }, 0)
    if m.shape[2] ~= v.shape[1] then
      fail("addmv", string.format("matrix %s and vector of %d elements do not match", C.shape_str(m.shape),
        v.shape[1]), 0)
    end
    if input.dtype ~= m.dtype or v.dtype ~= m.dtype then
      fail("addmv", string.format("input, matrix and vector must share a dtype, got %s, %s, %s", input.dtype,
        m.dtype, v.dtype), 0)
    end
    local n = m.shape[1]
    if input.ndim > 1 or (input:numel() ~= 1 and input:numel() ~= n) then
      fail("addmv", string.format("input of shape %s does not broadcast to [%d]", C.shape_str(input.shape),
        n), 0)
    end
    local bias = input:reshape({ input:numel(), 1 })
    return graphids.addmm(bias, m, v:reshape({ v.shape[1], 1 }), { beta = o.beta, alpha = o.alpha })
        :reshape({ n })
  end

  -- beta * input + alpha * bmm(b1, b2) ([B, n, m] @ [B, m, p]); input broadcasts to [B, n, p];
  -- beta = 0 ignores it (NaN too).
  function T.baddbmm(input, b1, b2, opts)
    C.tensor("baddbmm", "input", input, 0)
    ndim_is("baddbmm", "batch1", b1, 3, 0)
    ndim_is("baddbmm", "batch2", b2, 3, 0)
    local o = C.options("baddbmm", opts, { beta = 1, alpha = 1 }, 0)
    if b1.shape[1] ~= b2.shape[1] or b1.shape[3] ~= b2.shape[2] then
      fail("baddbmm", string.format("batch1 %s and batch2 %s do not match", C.shape_str(b1.shape),
        C.shape_str(b2.shape)), 0)
    end
    if input.dtype ~= b1.dtype or b2.dtype ~= b1.dtype then
      fail("baddbmm", string.format("input, batch1 and batch2 must share a dtype, got %s, %s, %s",
        input.dtype, b1.dtype, b2.dtype), 0)
    end
    local shape = { b1.shape[1], b1.shape[2], b2.shape[3] }
    local ok = #input.shape <= 3
    for i = 1, #input.shape do
      local s = input.shape[#input.shape - i + 1]
      ok = ok and (s == 1 or s == shape[4 - i])
    end
    if not ok then
      fail("baddbmm", string.format("input of shape %s does not broadcast to %s", C.shape_str(input.shape),
        C.shape_str(shape)), 0)
    end
    local p = b1:bmm(b2)
    if o.alpha ~= 1 then p = p * o.alpha end
    if o.beta == 0 then return p end
    return (o.beta == 1 and input or input * o.beta) + p
  end

  -- The lower (tril) or upper (triu) triangle of the last two dims, the rest zeroed: element
  -- (i, j) is kept when j - i <= diagonal (tril) or >= diagonal (triu).
  local function triangle(fname, t, diagonal, lower)
    C.tensor(fname, "arg 1", t, 1)
    if t.ndim < 2 then
      fail(fname, "expects a tensor of 2 or more dims, got shape " .. C.shape_str(t.shape), 1)
    end
    diagonal = C.integer(fname, "diagonal", diagonal or 0, nil, 1)
    local n, m = t.shape[t.ndim - 1], t.shape[t.ndim]
    local rows = graphids.arange(0, n, 1, { device = t.device }):reshape({ n, 1 })
    local cols = graphids.arange(0, m, 1, { device = t.device }):reshape({ 1, m })
    local offset = cols - rows
    local drop = lower and offset:gt(diagonal) or offset:lt(diagonal)
    return t:masked_fill(drop, 0)
  end
  -- (parenthesised: not a tail call, so triangle's checks sit one call below tril's)
  function T.tril(t, diagonal) return (triangle("tril", t, diagonal, true)) end
  function T.triu(t, diagonal) return (triangle("triu", t, diagonal, false)) end

  -- 1-D [n]: the square matrix with t on the given diagonal (size n + |diagonal|), zeros
  -- elsewhere.  2-D: the given diagonal as a 1-D tensor (empty when it lies outside).
  function T.diag(t, diagonal)
    C.tensor("diag", "arg 1", t, 0)
    local k = C.integer("diag", "diagonal", diagonal or 0, nil, 0)
    local dev = { device = t.device }
    if t.ndim == 1 then
      local n = t.shape[1]
      local size = n + math.abs(k)
      -- each place of the matrix reads element i of t on the diagonal, else an appended zero
      local src = graphids.full({ size * size }, n, { dtype = "i64", device = t.device })
      if n > 0 then
        local i = graphids.arange(0, n, 1, dev)
        local places = (i + math.max(0, -k)) * size + i + math.max(0, k)
        src:scatter_(1, places, i)
      end
      local padded = graphids.cat({ t, graphids.zeros({ 1 }, { dtype = t.dtype, device = t.device }) }, 1)
      return padded:index_select(1, src):reshape({ size, size })
    elseif t.ndim == 2 then
      local n, m = t.shape[1], t.shape[2]
      local len = k >= 0 and math.min(n, m - k) or math.min(n + k, m)
      len = math.max(len, 0)
      local start = k >= 0 and k or -k * m
      local places = graphids.arange(0, len, 1, dev) * (m + 1) + start
      return t:reshape({ n * m }):index_select(1, places)
    end
    fail("diag", "expects a 1-D or 2-D tensor, got shape " .. C.shape_str(t.shape), 0)
  end

  -- The sum of the main diagonal of a 2-D tensor (integers sum to i64).
  function T.trace(t)
    ndim_is("trace", "arg 1", t, 2, 0)
    return T.diag(t):sum()
  end

  -- Distances between the rows of x1 [..., P, M] and x2 [..., R, M]: [..., P, R], the leading
  -- dims broadcast.  p >= 0 as norm's (math.huge: the largest difference; 0: the count of
  -- differing entries).  Made of the differences [..., P, R, M] (memory: P * R * M elements
  -- per batch) and norm, whose gradient at a zero distance is 0, as torch's cdist's.
  function T.cdist(x1, x2, p)
    C.tensor("cdist", "x1", x1, 0)
    C.tensor("cdist", "x2", x2, 0)
    p = p or 2
    if type(p) ~= "number" or p < 0 or p ~= p then
      fail("cdist", "p must be a number >= 0, got " .. tostring(p), 0)
    end
    if not C.is_float(x1) or x1.dtype ~= x2.dtype then
      fail("cdist", string.format("x1 and x2 must share a float dtype, got %s and %s", x1.dtype, x2.dtype), 0)
    end
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[x1.ndim] ~= x2.shape[x2.ndim] then
      fail("cdist", string.format("x1 %s and x2 %s must be [..., P, M] and [..., R, M]",
        C.shape_str(x1.shape), C.shape_str(x2.shape)), 0)
    end
    local b1, b2 = {}, {}
    for d = 1, x1.ndim - 2 do b1[d] = x1.shape[d] end
    for d = 1, x2.ndim - 2 do b2[d] = x2.shape[d] end
    C.broadcast("cdist", b1, b2, 0)
    C.max_dims("cdist", math.max(x1.ndim, x2.ndim) + 1, 0) -- the pairwise differences take one more
    local diff = x1:unsqueeze(-2) - x2:unsqueeze(-3)
    if p == math.huge then
      -- M = 0: every distance is 0, as torch's for any p (amax has no identity; a sum has)
      if x1.shape[x1.ndim] == 0 then return diff:norm(1, -1) end
      return largest_difference(diff)
    end
    return diff:norm(p, -1)
  end

  -- Einstein summation over one or two operands (torch.einsum): "ij,jk->ik", "bij,bjk->bik",
  -- "ij->ji", "ii->", "i,j->ij", "bhnd,bhmd->bhnm", ... (no "->": the letters named once, in
  -- alphabetical order).  A letter named twice in one operand takes a diagonal; a letter of
  -- size 1 in one operand broadcasts to the other's size.  Two operands contract with one bmm.
  -- The operands may also come as a list: einsum("ij,jk->ik", {a, b}).
  function T.einsum(equation, a, b)
    local ops = { a, b }
    if type(a) == "table" and not graphids.is_tensor(a) then
      if b ~= nil then fail("einsum", "give the operands as arguments or as one list, not both", 0) end
      ops = table.move(a, 1, #a, 1, {})
    end
    local inputs, out = einsum_parse(equation, #ops)
    for k = 1, #ops do
      local t = C.tensor("einsum", "operand " .. k, ops[k], 0)
      if t.ndim ~= #inputs[k] then
        fail("einsum", string.format("operand %d has %d dims, its subscripts '%s' name %d", k, t.ndim,
          table.concat(inputs[k]), #inputs[k]), 0)
      end
      ops[k], inputs[k] = einsum_diagonals(graphids, t, inputs[k], k)
    end
    local keep = position(out)
    if #ops == 1 then
      local t, letters = sum_out(ops[1], inputs[1], keep)
      return arrange(t, letters, out)
    end
    local x, y = ops[1], ops[2]
    if x.dtype ~= y.dtype then
      fail("einsum", string.format("operand 2 has dtype %s, expected operand 1's (%s)", y.dtype, x.dtype), 0)
    end
    local xl, yl = inputs[1], inputs[2]
    local xat, yat = position(xl), position(yl)
    -- sizes agree or broadcast from 1
    local size = {}
    local xs, ys = x.shape, y.shape
    for i, c in ipairs(xl) do
      local j = yat[c]
      size[c] = xs[i]
      if j ~= nil and xs[i] ~= ys[j] then
        if xs[i] ~= 1 and ys[j] ~= 1 then
          fail("einsum", string.format("'%s' has size %d in operand 1 and %d in operand 2", c, xs[i],
            ys[j]), 0)
        end
        size[c] = math.max(xs[i], ys[j])
      end
    end
    for c, j in pairs(yat) do size[c] = size[c] or ys[j] end
    local function grown(t, letters)
      local shape, grow = {}, false
      for d, c in ipairs(letters) do
        shape[d] = size[c]
        grow = grow or t.shape[d] ~= size[c]
      end
      return grow and t:expand(shape) or t
    end
    x, y = grown(x, xl), grown(y, yl)
    -- a letter of one operand only, and not in the output, is summed there first
    local x_or_out, y_or_out = {}, {}
    for c in pairs(keep) do x_or_out[c], y_or_out[c] = true, true end
    for c in pairs(yat) do x_or_out[c] = true end
    for c in pairs(xat) do y_or_out[c] = true end
    x, xl = sum_out(x, xl, x_or_out)
    y, yl = sum_out(y, yl, y_or_out)
    xat, yat = position(xl), position(yl)
    -- batch: both and the output; left/right: one operand and the output; contracted: both only
    local batch, left, right, contracted = {}, {}, {}, {}
    for _, c in ipairs(out) do
      if xat[c] and yat[c] then batch[#batch + 1] = c
      elseif xat[c] then left[#left + 1] = c
      else right[#right + 1] = c end
    end
    for _, c in ipairs(xl) do
      if yat[c] and not keep[c] then contracted[#contracted + 1] = c end
    end
    local function block(letters)
      local n = 1
      for _, c in ipairs(letters) do n = n * size[c] end
      return n
    end
    local function concat(...)
      local r = {}
      for _, list in ipairs({ ... }) do
        for _, c in ipairs(list) do r[#r + 1] = c end
      end
      return r
    end
    local nb, nl, nr, nk = block(batch), block(left), block(right), block(contracted)
    local xp = arrange(x, xl, concat(batch, left, contracted)):reshape({ nb, nl, nk })
    local yp = arrange(y, yl, concat(batch, contracted, right)):reshape({ nb, nk, nr })
    local letters = concat(batch, left, right)
    local shape = {}
    for i, c in ipairs(letters) do shape[i] = size[c] end
    return arrange(xp:bmm(yp):reshape(shape), letters, out)
  end

  return T
end

function M.install(graphids)
  C.install(graphids, install(graphids), { "einsum" })
end

return M
