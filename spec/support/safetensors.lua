-- safetensors.lua -- a minimal reader of safetensors files for the specs (reference fixtures).
--   local safetensors = require "safetensors"
--   local f = assert(safetensors.load("spec/fixtures/nn_linear.safetensors"))
--   f.tensors["param.weight"], f.names (sorted), f.metadata.case (a string)
-- Layout: an 8-byte little-endian header length n, n bytes of JSON ({name: {dtype, shape,
-- data_offsets = [begin, end)}, optional "__metadata__": {string: string}}), then the data,
-- offsets relative to its start.  Only F32, F64, I64, I32, U8 and BOOL; tensors come through
-- graphids.frombytes, so the host must be little-endian.  A missing or malformed file returns
-- nil, message, code ("EIO" or "EINVAL"); misuse raises.  The checkpoint issue brings the full
-- reader in C.
local cjson = require "cjson"
local graphids = require "graphids"

local M = {}

local DTYPES = {
  F32 = { "f32", 4 }, F64 = { "f64", 8 }, I64 = { "i64", 8 }, I32 = { "i32", 4 },
  U8 = { "u8", 1 }, BOOL = { "bool", 1 },
}

-- A JSON number that must be a non-negative integer (cjson gives floats).
local function count(v)
  local i = math.type(v) and math.tointeger(v)
  return i ~= nil and i >= 0 and i or nil
end

local function invalid(where, fmt, ...)
  return nil, string.format("safetensors: %s: " .. fmt, where, ...), "EINVAL"
end

local function parse_entry(where, name, e, data_len)
  if type(e) ~= "table" then return invalid(where, "entry '%s' is not an object", name) end
  local dt = DTYPES[e.dtype]
  if dt == nil then
    return invalid(where, "tensor '%s' has dtype %s (supported: BOOL, F32, F64, I32, I64, U8)",
      name, tostring(e.dtype))
  end
  if type(e.shape) ~= "table" then return invalid(where, "tensor '%s' has no shape", name) end
  local shape, numel = {}, 1
  for i, s in ipairs(e.shape) do
    shape[i] = count(s)
    if shape[i] == nil then
      return invalid(where, "tensor '%s' has a bad size %s in its shape", name, tostring(s))
    end
    numel = numel * shape[i]
  end
  local off = e.data_offsets
  local b, f = type(off) == "table" and count(off[1]), type(off) == "table" and count(off[2])
  if not b or not f or #off ~= 2 or b > f then
    return invalid(where, "tensor '%s' has bad data_offsets (want [begin, end], begin <= end)",
      name)
  end
  if f > data_len then
    return invalid(where, "tensor '%s' data_offsets [%d, %d] exceed the data (%d bytes)", name, b,
      f, data_len)
  end
  if f - b ~= numel * dt[2] then
    return invalid(where, "tensor '%s' has %d bytes, but %s of shape [%s] needs %d", name, f - b,
      e.dtype, table.concat(shape, ","), numel * dt[2])
  end
  return { name = name, dtype = dt[1], shape = shape, first = b, last = f }
end

-- Decodes the bytes of a whole file; where names it in messages.
function M.decode(bytes, where)
  assert(type(bytes) == "string", "safetensors.decode: bytes must be a string")
  where = where or "(bytes)"
  assert(string.pack("=I4", 1) == string.pack("<I4", 1), "safetensors: big-endian host")
  if #bytes < 8 then return invalid(where, "%d bytes, too short for the header length", #bytes) end
  local n = string.unpack("<I8", bytes)
  if n < 2 or n > #bytes - 8 then
    return invalid(where, "header length %d does not fit a file of %d bytes", n, #bytes)
  end
  local ok, header = pcall(cjson.decode, bytes:sub(9, 8 + n))
  if not ok or type(header) ~= "table" or header[1] ~= nil then
    return invalid(where, "header is not a JSON object%s", ok and "" or (": " .. tostring(header)))
  end
  local data_at, data_len = 8 + n, #bytes - 8 - n
  local out = { tensors = {}, names = {}, metadata = {} }
  local entries = {}
  for name, e in pairs(header) do
    if name == "__metadata__" then
      if type(e) ~= "table" then return invalid(where, "__metadata__ is not an object") end
      for k, v in pairs(e) do
        if type(v) ~= "string" then return invalid(where, "__metadata__.%s is not a string", k) end
        out.metadata[k] = v
      end
    else
      local entry, msg, code = parse_entry(where, name, e, data_len)
      if entry == nil then return nil, msg, code end
      entries[#entries + 1] = entry
    end
  end
  -- Sorted by offset (then name) for the overlap check; names come out sorted.  A zero-size
  -- tensor holds no bytes, so it overlaps nothing (the Python writer gives it the offset of the
  -- tensor that follows).
  table.sort(entries, function(a, b)
    if a.first ~= b.first then return a.first < b.first end
    return a.name < b.name
  end)
  local prev
  for _, e in ipairs(entries) do
    if e.first < e.last then
      if prev and e.first < prev.last then
        return invalid(where, "tensors '%s' and '%s' overlap", prev.name, e.name)
      end
      prev = e
    end
  end
  for _, e in ipairs(entries) do
    out.tensors[e.name] = graphids.frombytes(bytes:sub(data_at + e.first + 1, data_at + e.last),
      e.dtype, e.shape)
    out.names[#out.names + 1] = e.name
  end
  table.sort(out.names)
  return out
end

-- Reads and decodes a file: {tensors = {name = Tensor}, names = {sorted}, metadata = {}}.
function M.load(path)
  assert(type(path) == "string", "safetensors.load: path must be a string")
  local f, err = io.open(path, "rb")
  if f == nil then
    return nil, string.format("EIO: cannot open '%s': %s", path, err:match(": (.*)$") or err), "EIO"
  end
  local bytes = f:read("a")
  f:close()
  if bytes == nil then return nil, "EIO: cannot read '" .. path .. "'", "EIO" end
  return M.decode(bytes, path)
end

return M
