-- graphids.unique_dim -- unique(t, {dim = d}): the distinct slices of t along dim d in
-- lexicographic order, as torch.unique(x, dim=d), with the inverse (for each slice, the number
-- of its distinct slice) and the counts when asked.  The core binding's `unique` calls it when
-- the dim option is given, with d already checked (1-based) and every other dim non-empty
-- when d is.
-- The slices are sorted by one stable sort per element of a slice, last element first (a
-- least-significant-digit sort): cheap for the usual case of a few elements a slice (an
-- edge_index's columns), linear in the slice's size.  NaN sorts last and equals nothing, so
-- every slice holding a NaN is its own, as in torch.  The results carry no gradient.
local graphids = require "graphids"

return function(t, dim, want_inverse, want_counts)
  return graphids.no_grad(function()
    local n = t.shape[dim]
    local moved = t:movedim(dim, 1)
    local rest = moved.shape
    table.remove(rest, 1)
    local m = 1
    for _, s in ipairs(rest) do m = m * s end
    local dev = t.device
    if n == 0 then
      local none = graphids.zeros({ 0 }, { dtype = "i64", device = dev })
      return t:clone(), none, none:clone()
    end
    local rows = moved:reshape({ n, m })
    local perm = graphids.arange(0, n, { device = dev })
    for c = m, 1, -1 do
      local key = rows:select(2, c):index_select(1, perm)
      perm = perm:index_select(1, key:argsort(1))
    end
    local sorted = rows:index_select(1, perm)
    local first = graphids.ones({ n }, { dtype = "bool", device = dev })
    if n > 1 then
      local differs = sorted:narrow(1, 2, n - 1):ne(sorted:narrow(1, 1, n - 1)):any(2)
      first = graphids.cat({ first:narrow(1, 1, 1), differs })
    end
    local group = first:long():cumsum(1) - 1
    local starts = first:nonzero():reshape({ -1 })
    local shape = { starts.shape[1] }
    for _, s in ipairs(rest) do shape[#shape + 1] = s end
    local out = sorted:index_select(1, starts):reshape(shape):movedim(1, dim):contiguous()
    local inverse, counts
    if want_inverse then
      inverse = graphids.zeros({ n }, { dtype = "i64", device = dev }):scatter_(1, perm, group)
    end
    if want_counts then counts = graphids.bincount(group) end
    return out, inverse, counts
  end)
end
