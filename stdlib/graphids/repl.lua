-- graphids.repl -- what the `graphids` REPL shows for values and offers on Tab.
--   repl.show(...)          -> one string for the values an entry returned
--   repl.complete(text, env) -> sorted candidates that extend text ("graphids.ze" ->
--                              {"graphids.zeros", "graphids.zeros_like"})
local M = {}

M.width = 80 -- tables longer than this on one line print one entry per line
M.max_items = 100 -- entries shown per table before "..."
M.max_depth = 4 -- nesting shown before "{...}"

local keywords = {
  "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
}
local is_keyword = {}
for _, k in ipairs(keywords) do
  is_keyword[k] = true
end

-- A name that can follow "." or stand as a bare table key: a keyword cannot ({end = 4} and
-- t.end do not parse), so it is shown as ["end"] and not offered after "t.".
local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not is_keyword[s]
end

local function is_tensor(v)
  local mt = getmetatable(v)
  return type(v) == "userdata" and type(mt) == "table" and mt.__name == "graphids.Tensor"
end

-- Keys sort numbers first, then strings, then the other types by type name (boolean, function,
-- table, ...), and by value within a type, so the output is the same on every run.
local type_rank = { number = 1, string = 2 }
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    local ra, rb = type_rank[ta] or 3, type_rank[tb] or 3
    if ra ~= rb then
      return ra < rb
    end
    return ta < tb
  end
  if ta == "number" or ta == "string" then
    return a < b
  end
  return tostring(a) < tostring(b)
end

-- The first k of the non-array keys of t (those outside 1..n) in key_less order, and how many
-- there are.  A table of a million keys shows 100: a max-heap of the k least seen so far costs
-- n log k comparisons, where sorting every key to show a few took seconds.
local function first_keys(t, n, k)
  local heap, count = {}, 0
  local function sift_down(i)
    while true do
      local l, r, top = 2 * i, 2 * i + 1, i
      if l <= #heap and key_less(heap[top], heap[l]) then top = l end
      if r <= #heap and key_less(heap[top], heap[r]) then top = r end
      if top == i then return end
      heap[i], heap[top] = heap[top], heap[i]
      i = top
    end
  end
  for key in pairs(t) do
    if not (math.type(key) == "integer" and key >= 1 and key <= n) then
      count = count + 1
      if #heap < k then
        heap[#heap + 1] = key
        local i = #heap -- sift up: the greatest key stays at the root
        while i > 1 and key_less(heap[i // 2], heap[i]) do
          heap[i], heap[i // 2] = heap[i // 2], heap[i]
          i = i // 2
        end
      elseif k > 0 and key_less(key, heap[1]) then
        heap[1] = key
        sift_down(1)
      end
    end
  end
  table.sort(heap, key_less)
  return heap, count
end

local format

-- What lua5.4 shows for a value whose __tostring is left aside: "table: 0x..." (or
-- "<__name>: 0x...").  The raw metatable, as luaL_tolstring reads it (a __metatable field does
-- not hide __name there).
local function plain(v)
  local mt = (debug and debug.getmetatable or getmetatable)(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return (type(name) == "string" and name or type(v)) .. ": " .. string.format("%p", v)
end

-- The error a __tostring raised, as text (lua.c's wording for an error object that is none).
local function error_text(e)
  if math.type(e) or type(e) == "string" then
    return tostring(e)
  end
  local mt = getmetatable(e)
  if type(mt) == "table" and mt.__tostring then
    local ok, s = pcall(tostring, e)
    if ok then
      return s
    end
  end
  return "error object is a " .. type(e) .. " value"
end

-- tostring(v), or raises {show_error = text} when v's __tostring fails, so show can tell it
-- from an error of its own (a table whose __len or __index raises).
local function to_string(v)
  local ok, s = pcall(tostring, v)
  if not ok then
    error({ show_error = error_text(s) }, 0)
  end
  return s
end

local function format_table(t, depth, seen, indent)
  if seen[t] then
    return "<cycle>"
  end
  if depth >= M.max_depth then
    return "{...}"
  end
  seen[t] = true
  local parts, n = {}, #t
  if math.type(n) ~= "integer" then -- a __len that returns no integer: no array part to show
    error("the length of the table is no integer", 0)
  end
  for i = 1, math.min(n, M.max_items) do
    parts[#parts + 1] = format(t[i], depth + 1, seen, indent .. "  ")
  end
  local keys, nkeys = first_keys(t, n, math.max(M.max_items - #parts, 0))
  for _, k in ipairs(keys) do
    local ks = is_identifier(k) and k or "[" .. format(k, depth + 1, seen, indent) .. "]"
    parts[#parts + 1] = ks .. " = " .. format(t[k], depth + 1, seen, indent .. "  ")
  end
  seen[t] = nil
  if n + nkeys > #parts then
    parts[#parts + 1] = "..."
  end
  if #parts == 0 then
    return "{}"
  end
  local one = "{" .. table.concat(parts, ", ") .. "}"
  if #one + #indent <= M.width and not one:find("\n") then
    return one
  end
  return "{\n" .. indent .. "  " .. table.concat(parts, ",\n" .. indent .. "  ") .. "\n" .. indent .. "}"
end

function format(v, depth, seen, indent)
  local tv = type(v)
  if tv == "string" then
    return depth == 0 and v or string.format("%q", v)
  end
  if is_tensor(v) then
    local s = tostring(v)
    -- inside a table only the summary line ("[graphids.Tensor f32 2x3]") fits
    return depth == 0 and s or s:match("[^\n]*$")
  end
  if tv == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and mt.__tostring then
      return to_string(v)
    end
    -- the entries are read through __len, __index and __pairs; where one of them raises (or
    -- a value inside has a __tostring that does), the table shows as lua5.4 shows it
    local ok, s = pcall(format_table, v, depth, seen, indent)
    if not ok and type(s) == "string" and s:find("interrupted!$") then
      error(s, 0) -- Ctrl-C while a big table is formatted stops the display
    elseif not ok then
      seen[v] = nil
      return plain(v)
    end
    return s
  end
  return to_string(v)
end

-- One value as the REPL shows it.  The display never fails: a table it cannot read shows as
-- "table: 0x...".  Returns nil and a message when v's own __tostring raises (lua5.4 -i reports
-- that as an error too).
function M.format(v)
  local ok, s = pcall(format, v, 0, {}, "")
  if ok then
    return s
  end
  if type(s) == "table" and s.show_error then
    return nil, "error showing the value (" .. s.show_error .. ")"
  end
  error(s, 0)
end

-- The values an entry returned, as one string; nil and a message when one of them cannot be
-- shown (its __tostring raised), which the REPL reports as the entry's error.  Values are
-- tab-separated as lua5.4 prints them, unless one spans several lines (a tensor, a long table):
-- then each starts on its own line, where a tab would run the next into the last line of it.
function M.show(...)
  local out, multiline = {}, false
  for i = 1, select("#", ...) do
    local s, err = M.format((select(i, ...)))
    if not s then
      return nil, err
    end
    out[i] = s
    multiline = multiline or s:find("\n", 1, true) ~= nil
  end
  return table.concat(out, multiline and "\n" or "\t")
end

-- The names a metatable's __names function lists (see fields); one that raises or returns no
-- table lists none, so a broken module costs its own names and not the rest of the candidates.
local function listed_names(v, mt, out)
  if type(mt.__names) ~= "function" then
    return
  end
  local ok, names = pcall(mt.__names, v)
  if ok and type(names) == "table" then
    for _, k in ipairs(names) do
      if is_identifier(k) then
        out[k] = true
      end
    end
  end
end

-- The names reachable as fields of v: its own keys, those its metatable's __names(v) lists (an
-- __index function cannot be enumerated, so a table that loads names on first use -- graphids,
-- graphids.data, graphids.models -- lists them there) and those of __index tables up the chain;
-- Tensor methods, and unless methods_only (after ':') its properties, for a tensor.
local function fields(v, out, methods_only, guard)
  guard = guard or 0
  if guard > 8 then
    return
  end
  if type(v) == "table" then
    for k in pairs(v) do
      if is_identifier(k) then
        out[k] = true
      end
    end
  end
  if is_tensor(v) then
    local core = package.loaded["graphids.core"]
    if core then
      fields(core.Tensor, out, methods_only, guard + 1)
    end
    if not methods_only then
      for _, p in ipairs({ "shape", "dtype", "ndim", "device" }) do
        out[p] = true
      end
    end
    return
  end
  local mt = getmetatable(v)
  if type(mt) ~= "table" then
    return
  end
  listed_names(v, mt, out)
  if type(mt.__index) == "table" then
    fields(mt.__index, out, methods_only, guard + 1)
  elseif type(mt.__index) == "function" and rawget(mt, "__name") ~= nil and rawget(mt, "__index") then
    -- a graphids.class whose __index is a function (Sequential's integer indexing, and its
    -- subclasses'): its methods are the class table's, and its parents' up the chain
    fields(mt, out, methods_only, guard + 1)
  end
end

local function lookup(env, path)
  local v = env
  for name in path:gmatch("[^.]+") do
    if not is_identifier(name) then
      return nil
    end
    local ok, r = pcall(function()
      return v[name]
    end)
    if not ok or r == nil then
      return nil
    end
    v = r
  end
  return v
end

function M.complete(text, env)
  env = env or _G
  local path, sep, partial = text:match("^([%w_.]-)([.:])([%w_]*)$")
  local names = {}
  if path then
    if path == "" or path:find("[.:]$") or path:find("%.%.") then
      return {}
    end
    local v = lookup(env, path)
    if v == nil then
      return {}
    end
    fields(v, names, sep == ":")
  else
    partial = text
    if not partial:match("^[%w_]*$") then
      return {}
    end
    fields(env, names)
    for _, k in ipairs(keywords) do
      names[k] = true
    end
    path, sep = "", ""
  end
  local out = {}
  for k in pairs(names) do
    if k:sub(1, #partial) == partial then
      out[#out + 1] = path .. sep .. k
    end
  end
  table.sort(out)
  return out
end

return M
