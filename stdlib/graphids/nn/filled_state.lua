-- graphids.nn.filled_state -- buffers of which only the leading rows hold data, the others being
-- storage not written yet (a replay buffer before it wraps): checkpoints keep just the filled
-- rows, and a state dict of the whole storage (what older checkpoints hold) still loads.
--   Replay._filled_state = { states = true, rewards = true }      -- name -> true
--   function Replay:_filled_rows(get) return math.min(get("pushed"):item(), self.capacity) end
--   local rows = FS.rows(model, sd)        -- key -> filled rows, by sd's own counters
--   sd = FS.cut(sd, rows)                  -- those buffers cut to their filled rows (views)
-- A module class lists such buffers in `_filled_state` and says how many rows are filled with
-- its method `_filled_rows(get)`, reading its state through get(name): the state dict's tensor
-- when it has one of the module's shape, else the module's own.  load_state_dict takes for such
-- a buffer any number of rows from its filled ones up to the whole storage (rows of the same
-- trailing shape), copies them into the first rows and zeroes the rest.
local graphids = require "graphids"
local class = require "graphids.class"
local StateDict = require "graphids.nn.state_dict"
local U = require "graphids.nn._util"

local M = {}

-- Whether `name` is a buffer of module m filled row by row.
function M.is(m, name)
  local f = m._filled_state
  return f ~= nil and f[name] == true
end

local function lookup(sd, key)
  if class.isinstance(sd, StateDict) then return sd:get(key) end
  return sd[key]
end

local function same_shape(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

-- The reader m:_filled_rows sees: sd's tensor for prefix .. name when it has the module's
-- shape (a malformed one is load_state_dict's to report), else the module's own.
function M.reader(m, prefix, sd)
  return function(name)
    local own = rawget(m, name)
    local t = sd ~= nil and lookup(sd, prefix .. name) or nil
    if graphids.is_tensor(t) and graphids.is_tensor(own) and same_shape(t.shape, own.shape) then
      return t
    end
    return own
  end
end

-- key -> number of filled rows for every such buffer of model, read from sd (a StateDict or a
-- table name -> tensor; the model's own state where sd lacks a counter, or when sd is nil).
function M.rows(model, sd)
  local out = {}
  if type(model.named_modules) ~= "function" then return out end -- (a model of its own kind)
  for prefix, m in model:named_modules() do
    if m._filled_state ~= nil then
      local p = prefix == "" and "" or prefix .. "."
      local n = m:_filled_rows(M.reader(m, p, sd))
      for name in pairs(m._filled_state) do
        out[p .. name] = n
      end
    end
  end
  return out
end

local function cut_one(t, n)
  if n ~= nil and graphids.is_tensor(t) and t.ndim >= 1 and n < t:size(1) then
    return t:narrow(1, 1, n)
  end
  return t
end

-- sd with each buffer named in rows (key -> count) cut to its first rows (views); of sd's kind
-- (a StateDict, in its order, or a plain table).
function M.cut(sd, rows)
  if class.isinstance(sd, StateDict) then
    local out = StateDict()
    for name, t in sd:items() do
      out:set(name, cut_one(t, rows[name]))
    end
    return out
  end
  local out = {}
  for name, t in pairs(sd) do
    out[name] = cut_one(t, rows[name])
  end
  return out
end

-- The state dicts given (nil ones stay nil), each such buffer of model cut to the larger of its
-- filled rows by any of them: the weights of a checkpoint (model, current_model) keep the same
-- shapes, as ckpt.load checks, and each keeps every row it filled (rows past a state dict's own
-- count are zeros: it never wrote them).
function M.cut_alike(model, ...)
  local sds, rows = table.pack(...), {}
  for i = 1, sds.n do
    if sds[i] ~= nil then
      for k, n in pairs(M.rows(model, sds[i])) do
        rows[k] = math.max(rows[k] or 0, n)
      end
    end
  end
  for i = 1, sds.n do
    if sds[i] ~= nil then sds[i] = M.cut(sds[i], rows) end
  end
  return table.unpack(sds, 1, sds.n)
end

-- Whether a tensor of shape a may stand for such a buffer of shape b: the same trailing shape,
-- and at most b's rows.
function M.fits(a, b)
  if #a ~= #b or #a == 0 or a[1] > b[1] then return false end
  for i = 2, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

-- nil when src may load into m's buffer t (named key in the state dict), else load_state_dict's
-- message: src must hold at least the rows the state dict's own counters say are filled (get:
-- M.reader).
function M.check(m, key, src, t, get)
  local filled = m:_filled_rows(get)
  if M.fits(src.shape, t.shape) and src:size(1) >= filled then
    return nil
  end
  return string.format("size mismatch for %s: copying a param with shape %s from checkpoint, the shape " ..
    "in current model is %s (a buffer filled row by row: the checkpoint gives from its %d filled rows " ..
    "up to all %d)", key, U.shape_str(src), U.shape_str(t), filled, t:size(1))
end

-- Copies src into the first rows of dst and zeroes the rest.
function M.copy(dst, src)
  local n, all = src:size(1), dst:size(1)
  if n == all then
    dst:copy_(src)
    return
  end
  if n > 0 then dst:narrow(1, 1, n):copy_(src) end
  dst:narrow(1, n + 1, all - n):zero_()
end

-- src as a tensor of like's shape on like's device (src's dtype), its rows first and zeros after:
-- a cut buffer read back where a whole one is wanted (the averaged weights a checkpoint holds).
function M.expand(src, like)
  local out = graphids.zeros(like.shape, { dtype = src.dtype, device = like.device })
  M.copy(out, src)
  return out
end

return M
