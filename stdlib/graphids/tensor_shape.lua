-- graphids.tensor_shape -- PyTorch's shape helpers composed from the core's views, narrow, cat
-- and index_select (autograd follows them), installed on graphids.Tensor and as module
-- functions by `require "graphids"`:
--   roll(t, shifts, dims?)  diff(t, n=1, dim=-1, {prepend, append})  movedim / moveaxis(t, src, dst)
--   swapaxes / swapdims(t, d1, d2)  unflatten(t, dim, sizes)  tile(t, reps)
--   graphids.hstack(list)  graphids.vstack(list)  tensor_split(t, sections_or_indices, dim=1)
--   split_with_sizes(t, sizes, dim=1)
-- Dims are 1-based as everywhere in graphids.
local C = require "graphids.tensor_checks"

local M = {}

local fail = C.fail

-- A Lua list of integers (or one integer) as a list.
local function int_list(fname, what, v, min, depth)
  if type(v) ~= "table" then v = { v } end
  local out = {}
  for i, x in ipairs(v) do out[i] = C.integer(fname, what, x, min, depth + 1) end
  return out
end

local function install(graphids)
  local T = {}

  -- t rolled along each of dims by its shift (elements pushed past the end come back at the
  -- start); without dims, t flattened, rolled and reshaped back.  shifts and dims: an integer
  -- or lists of one length (a dim may repeat, as torch's).
  function T.roll(t, shifts, dims)
    C.tensor("roll", "arg 1", t, 0)
    local s = int_list("roll", "a shift", shifts, nil, 0)
    if dims == nil then
      if #s ~= 1 then fail("roll", "without dims, shifts must be one integer, got " .. #s, 0) end
      return T.roll(t:reshape({ -1 }), s[1], 1):reshape(t.shape)
    end
    local d = type(dims) == "table" and dims or { dims }
    if #s ~= #d or #s == 0 then
      fail("roll", string.format("%d shifts for %d dims: give one shift per dim", #s, #d), 0)
    end
    local out = t
    for i = 1, #d do
      local dim = C.dim("roll", t, d[i], 0)
      local n = t.ndim == 0 and 1 or t.shape[dim]
      local k = n > 0 and s[i] % n or 0
      if k ~= 0 then
        out = graphids.cat({ out:narrow(dim, n - k + 1, k), out:narrow(dim, 1, n - k) }, dim)
      end
    end
    return out
  end

  -- The n-th forward difference along dim (out[i] = t[i+1] - t[i], n times; logical_xor for
  -- bool), after prepend and append (tensors of t's shape but along dim) are joined on.
  function T.diff(t, n, dim, opts)
    C.tensor("diff", "arg 1", t, 0)
    if t.ndim == 0 then fail("diff", "expects a tensor of 1 or more dims, got a 0-d tensor", 0) end
    n = C.integer("diff", "n", n or 1, 0, 0)
    dim = C.dim("diff", t, dim or -1, 0)
    local o = C.options("diff", opts, { prepend = C.NONE, append = C.NONE }, 0)
    local parts = {}
    for _, key in ipairs({ "prepend", "append" }) do
      local x = o[key]
      if x ~= nil then
        C.tensor("diff", key, x, 0)
        local ok = x.ndim == t.ndim
        for d = 1, t.ndim do ok = ok and (d == dim or x.shape[d] == t.shape[d]) end
        if not ok then
          fail("diff", string.format("%s of shape %s must match %s but along dim %d", key,
            C.shape_str(x.shape), C.shape_str(t.shape), dim), 0)
        end
      end
    end
    if o.prepend ~= nil then parts[#parts + 1] = o.prepend end
    parts[#parts + 1] = t
    if o.append ~= nil then parts[#parts + 1] = o.append end
    local out = #parts > 1 and graphids.cat(parts, dim) or t
    for _ = 1, n do
      local len = out.shape[dim]
      if len == 0 then break end
      local hi, lo = out:narrow(dim, 2, len - 1), out:narrow(dim, 1, len - 1)
      out = out.dtype == "bool" and hi:logical_xor(lo) or hi - lo
    end
    return out
  end

  -- t with the dims of source moved to the places of destination (each an integer or lists of
  -- one length), the other dims keeping their order (torch.movedim; a view).
  local function move(fname, t, source, destination)
    C.tensor(fname, "arg 1", t, 1)
    local src = C.dims(fname, t, source, 1)
    local dst = C.dims(fname, t, destination, 1)
    if #src ~= #dst then
      fail(fname, string.format("%d source dims for %d destinations", #src, #dst), 1)
    end
    local nd = t.ndim
    if nd == 0 then return t end
    local perm, used = {}, {}
    for i = 1, #src do
      perm[dst[i]] = src[i]
      used[src[i]] = true
    end
    local next_dim = 1
    for place = 1, nd do
      if perm[place] == nil then
        while used[next_dim] do next_dim = next_dim + 1 end
        perm[place] = next_dim
        next_dim = next_dim + 1
      end
    end
    return t:permute(perm)
  end
  function T.movedim(t, source, destination) return (move("movedim", t, source, destination)) end
  function T.moveaxis(t, source, destination) return (move("moveaxis", t, source, destination)) end

  -- torch's names for transpose (a view with dims d1 and d2 swapped).
  for _, name in ipairs({ "swapaxes", "swapdims" }) do
    T[name] = function(t, d1, d2)
      C.tensor(name, "arg 1", t, 0)
      return t:transpose(C.dim(name, t, d1, 0), C.dim(name, t, d2, 0))
    end
  end

  -- dim split into the sizes given (a list; one may be -1, inferred), as torch.unflatten.
  function T.unflatten(t, dim, sizes)
    C.tensor("unflatten", "arg 1", t, 0)
    dim = C.dim("unflatten", t, dim, 0)
    if type(sizes) ~= "table" or #sizes == 0 then
      fail("unflatten", "sizes must be a non-empty list of integers, got " .. type(sizes), 0)
    end
    local n = t.ndim == 0 and 1 or t.shape[dim]
    local known, free = 1, nil
    for i, s in ipairs(sizes) do
      C.integer("unflatten", "each size", s, -1, 0)
      if s == -1 then
        if free then fail("unflatten", "only one size may be -1", 0) end
        free = i
      else
        known = known * s
      end
    end
    local sz = table.move(sizes, 1, #sizes, 1, {})
    if free then
      if known == 0 or n % known ~= 0 then
        fail("unflatten", string.format("sizes %s cannot fill dim %d of size %d", C.shape_str(sizes), dim,
          n), 0)
      end
      sz[free] = n // known
    elseif known ~= n then
      fail("unflatten", string.format("sizes %s multiply to %d, but dim %d has size %d", C.shape_str(sizes),
        known, dim, n), 0)
    end
    local shape = {}
    for d = 1, t.ndim do
      if d == dim then
        for _, s in ipairs(sz) do shape[#shape + 1] = s end
      else
        shape[#shape + 1] = t.shape[d]
      end
    end
    if t.ndim == 0 then shape = sz end
    C.max_dims("unflatten", #shape, 0)
    return t:reshape(shape)
  end

  -- t repeated reps[d] times along each dim (torch.tile; numpy.tile): fewer reps than dims
  -- count for the last dims, more add leading dims of size 1 first.
  function T.tile(t, reps)
    C.tensor("tile", "arg 1", t, 0)
    if type(reps) ~= "table" and math.type(reps) ~= "integer" then
      fail("tile", "reps must be an integer or a list of integers, got " .. type(reps), 0)
    end
    local r = int_list("tile", "each rep", reps, 0, 0)
    local nd = math.max(#r, t.ndim)
    C.max_dims("tile", nd, 0)
    local shape, full = {}, {}
    for d = 1, nd do
      shape[d] = t.shape[d - (nd - t.ndim)] or 1
      full[d] = r[d - (nd - #r)] or 1
    end
    local out = t:reshape(shape)
    for d = 1, nd do
      local n, k = shape[d], full[d]
      if k ~= 1 then
        local idx = graphids.arange(0, n * k, 1, { device = t.device })
        if n > 0 then idx = idx:remainder(n) end
        out = out:index_select(d, idx)
      end
    end
    return out
  end

  local function list_of_tensors(fname, tensors, depth)
    if type(tensors) ~= "table" or graphids.is_tensor(tensors) or #tensors == 0 then
      fail(fname, "expects a non-empty list of tensors", depth + 1)
    end
    for i, x in ipairs(tensors) do C.tensor(fname, "tensors[" .. i .. "]", x, depth + 1) end
  end

  -- The tensors joined along their 2nd dim, or the 1st when they are 1-D (a 0-d one counts as
  -- 1-D of one element), as torch.hstack.
  function T.hstack(tensors)
    list_of_tensors("hstack", tensors, 0)
    local parts = {}
    for i, x in ipairs(tensors) do parts[i] = x.ndim == 0 and x:reshape({ 1 }) or x end
    return graphids.cat(parts, parts[1].ndim == 1 and 1 or 2)
  end

  -- The tensors joined along their 1st dim, 1-D ones as rows [1, n] (0-d: [1, 1]), as
  -- torch.vstack.
  function T.vstack(tensors)
    list_of_tensors("vstack", tensors, 0)
    local parts = {}
    for i, x in ipairs(tensors) do
      parts[i] = x.ndim < 2 and x:reshape({ 1, x:numel() }) or x
    end
    return graphids.cat(parts, 1)
  end

  -- t cut along dim into a Lua list of views (torch.tensor_split): an integer n gives n pieces
  -- whose sizes differ by at most one, the larger first; a list of cut points (or a 1-D
  -- integer tensor of them) gives the pieces between them.  A cut point is torch's number: how
  -- many elements precede the cut (negative: counted from the end), clamped to the dim; a cut
  -- below the one before it gives an empty piece.  Each piece is a view (about 250 bytes of host
  -- memory), so n is refused past the dim's size or MAX_EMPTY_SECTIONS, whichever is larger:
  -- beyond the size the pieces are empty, and torch makes any number until memory runs out
  -- (2^40 of them: bad_alloc after filling memory).
  local MAX_EMPTY_SECTIONS = 1 << 20
  function T.tensor_split(t, sections_or_indices, dim)
    C.tensor("tensor_split", "arg 1", t, 0)
    if t.ndim == 0 then fail("tensor_split", "expects a tensor of 1 or more dims, got a 0-d tensor", 0) end
    dim = C.dim("tensor_split", t, dim or 1, 0)
    local arg = sections_or_indices
    if graphids.is_tensor(arg) then
      if not C.is_index(arg) or arg.ndim > 1 then
        fail("tensor_split", "a tensor of sections or cut points must be a 0-d or 1-D i64/i32 tensor", 0)
      end
      arg = arg:to("cpu"):totable()
    end
    local n = t.shape[dim]
    local out = {}
    if math.type(arg) == "integer" then
      if arg < 1 then fail("tensor_split", "the number of sections must be >= 1, got " .. arg, 0) end
      if arg > math.max(n, MAX_EMPTY_SECTIONS) then
        fail("tensor_split", string.format("%d sections is too many for dim %d of size %d: at most the "
          .. "size or %d (each section is a view; beyond the size they are empty)", arg, dim, n,
          MAX_EMPTY_SECTIONS), 0)
      end
      local q, r = n // arg, n % arg
      local start = 1
      for i = 1, arg do
        local len = q + (i <= r and 1 or 0)
        out[i] = t:narrow(dim, start, len)
        start = start + len
      end
      return out
    end
    if math.type(arg) == "float" then
      fail("tensor_split", "the number of sections must be an integer, got " .. arg, 0)
    elseif type(arg) ~= "table" then
      fail("tensor_split", "expects an integer number of sections or a list of cut points, got "
        .. type(arg), 0)
    end
    local cuts = int_list("tensor_split", "each cut point", arg, nil, 0)
    local prev = 0
    for i = 1, #cuts + 1 do
      local c = cuts[i] or n
      if c < 0 then c = c + n end
      c = math.min(math.max(c, 0), n)
      out[i] = t:narrow(dim, prev + 1, math.max(c - prev, 0))
      prev = c
    end
    return out
  end

  -- graphids.split with a list of sizes, under torch's name (the sizes must add up to the dim).
  function T.split_with_sizes(t, sizes, dim)
    C.tensor("split_with_sizes", "arg 1", t, 0)
    dim = C.dim("split_with_sizes", t, dim or 1, 0)
    if type(sizes) ~= "table" then
      fail("split_with_sizes", "sizes must be a list of integers, got " .. type(sizes), 0)
    end
    local total = 0
    for _, s in ipairs(int_list("split_with_sizes", "each size", sizes, 0, 0)) do total = total + s end
    local n = t.ndim == 0 and 1 or t.shape[dim]
    if total ~= n then
      fail("split_with_sizes", string.format("sizes %s add up to %d, expected %d (the size of dim %d)",
        C.shape_str(sizes), total, n, dim), 0)
    end
    return t:split(sizes, dim)
  end

  return T
end

function M.install(graphids)
  C.install(graphids, install(graphids), { "hstack", "vstack" })
end

return M
