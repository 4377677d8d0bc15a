-- graphids.tensor_extras -- Tensor methods a PyTorch user reaches for that compose from the
-- core's ops (autograd follows the ops they are made of), installed on graphids.Tensor and as
-- module functions by `require "graphids"`:
--   t:tolist()  t:view_as(o)  t:reshape_as(o)  t:type_as(o)
--   t:new_zeros(shape)  t:new_ones(shape)  t:new_full(shape, v)  t:new_empty(shape)
--   t:clamp_min(v)  t:clamp_max(v)  t:unbind(dim=1)  t:flip(dims)
--   t:repeat_interleave(repeats, dim?)  graphids.isin(elements, test_elements)
--   t[mask]  t[index]  t[mask] = v  t[index] = v    (tensor keys: PyTorch's advanced indexing)
-- Dims are 1-based, as everywhere in graphids; index values 0-based, as in every index tensor.
local C = require "graphids.tensor_checks"

local M = {}

local function fail(fname, msg)
  error(fname .. ": " .. msg, 3)
end

-- dim of t as a positive dim, by the one rule of graphids.tensor_checks (a 0-d tensor takes 1
-- or -1, as the core's ops and torch's wrap_dim do).
local function check_dim(fname, t, dim)
  return C.dim(fname, t, dim, 1)
end

local function install(graphids)
  local T = {} -- (copied onto graphids.Tensor by M.install, each refusing an extra value)
  local function like(t, opts)
    local o = { dtype = t.dtype, device = t.device }
    for k, v in pairs(opts or {}) do o[k] = v end
    return o
  end

  -- The values as nested Lua tables (torch's tolist; graphids' totable).
  function T.tolist(t) return t:totable() end
  function T.view_as(t, o) return t:view(o.shape) end
  function T.reshape_as(t, o) return t:reshape(o.shape) end
  function T.type_as(t, o) return t:to(o.dtype) end

  -- New tensors of t's dtype and device (opts may change either).
  function T.new_zeros(t, shape, opts)
    return graphids.zeros(shape, like(t, opts))
  end
  function T.new_ones(t, shape, opts)
    return graphids.ones(shape, like(t, opts))
  end
  function T.new_full(t, shape, v, opts)
    return graphids.full(shape, v, like(t, opts))
  end
  function T.new_empty(t, shape, opts)
    return graphids.empty(shape, like(t, opts))
  end

  function T.clamp_min(t, v) return t:clamp(v, nil) end
  function T.clamp_max(t, v) return t:clamp(nil, v) end

  -- The slices along dim (default 1) as a Lua list: t:select(dim, i) for i = 1..size.
  function T.unbind(t, dim)
    if #t.shape == 0 then fail("unbind", "cannot unbind a 0-d tensor") end -- (as narrow, select)
    dim = check_dim("unbind", t, dim or 1)
    local out = {}
    for i = 1, t.shape[dim] do out[i] = t:select(dim, i) end
    return out
  end

  -- t reversed along each of dims (a dim or a list of dims).
  function T.flip(t, dims)
    if type(dims) ~= "table" then dims = { dims } end
    if #dims == 0 then fail("flip", "dims must be a dim or a non-empty list of dims") end
    local out, seen = t, {}
    for _, d in ipairs(dims) do
      d = check_dim("flip", t, d)
      if seen[d] then fail("flip", "dim " .. d .. " is given twice") end
      seen[d] = true
      local n = t.shape[d] or 1 -- (a 0-d tensor is its own flip, as torch's)
      if n > 1 then
        out = out:index_select(d, graphids.arange(n - 1, -1, -1, { device = t.device }))
      end
    end
    return out
  end

  -- Each element (dim nil: of the flattened t) or slice along dim repeated `repeats` times in
  -- place (torch's repeat_interleave): repeats an integer >= 0 or a 1-D integer tensor of one
  -- count per slice.
  function T.repeat_interleave(t, repeats, dim)
    if dim == nil then
      t, dim = t:reshape({ -1 }), 1
    else
      dim = check_dim("repeat_interleave", t, dim)
      if #t.shape == 0 then t = t:reshape({ 1 }) end -- (torch repeats a 0-d tensor's one element)
    end
    local n = t.shape[dim]
    if math.type(repeats) == "integer" then
      if repeats < 0 then fail("repeat_interleave", "repeats must be >= 0, got " .. repeats) end
      local idx = graphids.arange(0, n, 1, { device = t.device }):view({ n, 1 }):expand({ n, repeats })
      return t:index_select(dim, idx:reshape({ -1 }))
    end
    if not graphids.is_tensor(repeats) or #repeats.shape > 1 or repeats.dtype:match("^f")
        or repeats.dtype == "bool" or repeats.dtype == "bf16" then
      fail("repeat_interleave", "repeats must be an integer or a 1-D integer tensor")
    end
    if repeats:numel() == 1 then -- one count for every slice, as torch broadcasts it
      return t:repeat_interleave(repeats:reshape({ -1 }):to("cpu"):totable()[1], dim)
    end
    if repeats.shape[1] ~= n then
      fail("repeat_interleave", string.format("repeats has %d counts, the dim has %d slices",
        repeats.shape[1], n))
    end
    local counts, idx = repeats:to("cpu"):totable(), {}
    for i, c in ipairs(counts) do
      if c < 0 then fail("repeat_interleave", "repeats[" .. i .. "] = " .. c .. " is negative") end
      for _ = 1, c do idx[#idx + 1] = i - 1 end
    end
    if #idx == 0 then
      local shape = {}
      for i, s in ipairs(t.shape) do shape[i] = s end
      shape[dim] = 0
      return t:new_empty(shape)
    end
    return t:index_select(dim, graphids.tensor(idx, { dtype = "i64", device = t.device }))
  end
  -- Tensor keys, as PyTorch's advanced indexing along the leading dims (the C __index and
  -- __newindex hand a tensor key here).  A bool mask whose shape is t's first k dims selects
  -- those positions: t[mask] is [count, the remaining dims...] (1-D when k is all of t's dims,
  -- torch's masked selection); an integer tensor selects rows (dim 1) by 0-based value,
  -- negative values counting from the end: t[index] is [index's shape..., t's other dims...].
  -- A key on another device is moved to t's, as torch takes a CPU index for a CUDA tensor.
  -- Reads are differentiable (index_select); writes go through t's memory in place.
  -- Raised from `depth` calls below _getitem / _setitem, pointing at the line that indexed:
  -- error's level counts this function, those between, the method, and the C metamethod.
  local function key_fail(fname, msg, depth)
    error(fname .. ": " .. msg, depth + 3)
  end
  local function rows_of(fname, t, key)
    if t.ndim == 0 then key_fail(fname, "a 0-d tensor cannot be indexed with a tensor", 2) end
    if key.device ~= t.device then key = key:to(t.device) end
    local lead, rest = {}, {}
    if key.dtype == "bool" then
      local k = key.ndim
      local ok = k >= 1 and k <= t.ndim
      for d = 1, k do ok = ok and key.shape[d] == t.shape[d] end
      if not ok then
        key_fail(fname, string.format("mask of shape [%s] does not match the leading dims of a tensor"
          .. " of shape [%s]", table.concat(key.shape, ","), table.concat(t.shape, ",")), 2)
      end
      local p = 1
      for d = 1, k do p = p * t.shape[d] end
      for d = k + 1, t.ndim do rest[#rest + 1] = t.shape[d] end
      local idx = graphids.nonzero(key:reshape({ p })):reshape({ -1 })
      lead = { idx.shape[1] }
      return idx, p, lead, rest
    elseif key.dtype == "i64" or key.dtype == "i32" then
      local n = t.shape[1]
      local idx = key:reshape({ -1 }):long()
      -- -n..-1 count from the end; anything below stays as it is, for the range check to name
      idx = graphids.where(idx:lt(0):logical_and(idx:ge(-n)), idx + n, idx)
      for d = 1, key.ndim do lead[d] = key.shape[d] end
      for d = 2, t.ndim do rest[#rest + 1] = t.shape[d] end
      return idx, n, lead, rest
    end
    key_fail(fname, "a tensor key must be a bool mask or an i64/i32 index, got " .. key.dtype, 2)
  end
  local function concat(a, b)
    local out = {}
    for _, v in ipairs(a) do out[#out + 1] = v end
    for _, v in ipairs(b) do out[#out + 1] = v end
    return out
  end

  -- fn's refusal as fname's, at the line that indexed
  local function at_index_line(fname, fn)
    local ok, r = pcall(fn)
    if not ok then key_fail(fname, C.strip_position(tostring(r)), 2) end
    return r
  end

  function T._getitem(t, key)
    local idx, p, lead, rest = rows_of("t[key]", t, key)
    local flat = t:reshape(concat({ p }, rest))
    local out = at_index_line("t[key]", function()
      return graphids.index_select(flat, 1, idx):reshape(concat(lead, rest))
    end)
    return out -- (not a tail call: key_fail counts this frame)
  end

  function T._setitem(t, key, v)
    local idx, p, lead, rest = rows_of("t[key] = v", t, key)
    local r = 1
    for _, n in ipairs(rest) do r = r * n end
    local count = idx.shape[1]
    if count == 0 then return end
    local src
    if graphids.is_tensor(v) then
      local ok, b = pcall(function() return v:to(t.dtype):to(t.device):expand(concat(lead, rest)) end)
      if not ok then
        key_fail("t[key] = v", string.format("value of shape [%s] does not broadcast to [%s]",
          table.concat(v.shape, ","), table.concat(concat(lead, rest), ",")), 1)
      end
      src = b:reshape({ count, r })
    elseif type(v) == "number" or type(v) == "boolean" then
      src = at_index_line("t[key] = v", function()
        return graphids.full({ count, r }, v, { dtype = t.dtype, device = t.device })
      end)
    else
      key_fail("t[key] = v", "the value must be a number, a boolean or a tensor, got " .. type(v), 1)
    end
    local index = idx:reshape({ count, 1 }):expand({ count, r })
    -- a view of t's memory when it has one of [p, r]; else the rows are written into a copy
    -- that is copied back, so the write always lands in t
    local ok, view = pcall(t.view, t, { p, r })
    -- the write's own refusal (an index out of range, a leaf that requires grad), at the line
    -- that indexed rather than in this file
    at_index_line("t[key] = v", function()
      if ok then
        view:scatter_(1, index, src)
      else
        local c = t:contiguous():clone():view({ p, r })
        c:scatter_(1, index, src)
        t:copy_(c:view(t.shape))
      end
    end)
  end

  return T
end

-- A bool tensor of elements' shape: whether each element is in test_elements (torch.isin).
-- Compared in blocks of rows so that memory stays near 2^22 comparisons at a time.  Either
-- argument (not both) may be a number or boolean, as in torch: a number as elements gives a
-- 0-d result.
function M.isin(graphids, elements, test_elements)
  local scalar = { number = true, boolean = true }
  local te, tt = graphids.is_tensor(elements), graphids.is_tensor(test_elements)
  if te and scalar[type(test_elements)] then return elements:eq(test_elements) end
  if tt and scalar[type(elements)] then return test_elements:eq(elements):any() end
  if not te or not tt then
    error(string.format("isin: elements and test_elements must be tensors (one of them may be a " ..
      "number), got %s and %s", te and "a tensor" or type(elements),
      tt and "a tensor" or type(test_elements)), 3)
  end
  local flat, test = elements:reshape({ -1 }), test_elements:reshape({ -1 })
  local n, m = flat.shape[1], test.shape[1]
  if n == 0 or m == 0 then
    return graphids.zeros(elements.shape, { dtype = "bool", device = elements.device })
  end
  local rows = math.max(1, (1 << 22) // m)
  local parts = {}
  for start = 1, n, rows do
    local len = math.min(rows, n - start + 1)
    local block = flat:narrow(1, start, len)
    parts[#parts + 1] = block:view({ len, 1 }):eq(test:view({ 1, m })):any(2)
  end
  return graphids.cat(parts, 1):view(elements.shape)
end

function M.install(graphids)
  local T = install(graphids)
  function T.isin(elements, test_elements)
    return M.isin(graphids, elements, test_elements)
  end
  C.strict_wrap_all(T)
  for name, f in pairs(T) do graphids.Tensor[name] = f end
  for _, name in ipairs({ "flip", "unbind", "repeat_interleave", "isin" }) do
    graphids[name] = T[name]
  end
end

return M
