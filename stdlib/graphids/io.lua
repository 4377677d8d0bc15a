-- graphids.io -- files for the Lua side: safetensors, atomic writes, locks, JSON files, paths.
--   local gio = require "graphids.io"
--   gio.save_safetensors(path, {w = t}, {format = "pt"})      -- atomic
--   local tensors, meta = gio.load_safetensors(path)          -- memory-mapped views
--   gio.save(path, tensors, meta) / gio.load(path)            -- the same two, short names
--   gio.write_json(path, value)                              -- atomic, sorted, indented
--   local v = assert(gio.read_json(path))
--   local lk <close> = assert(gio.lock(gio.join(dir, ".lock"), {timeout = 10}))
--
-- The C functions (graphids.core, see docs/io.md) return nil, message, code on expected
-- failures (missing or corrupt file, lock held elsewhere); the helpers here keep that
-- convention.
local core = require "graphids.core"
local json = require "graphids.json"

local M = {
  load_safetensors = core.load_safetensors,
  atomic_write = core.atomic_write,
  resolve_links = core.resolve_links, -- the file a path leads to through symbolic links
  replace_file = core.replace_file, -- rename onto a path through its links, keeping its mode
  lock = core.lock,
  mkdir_p = core.mkdir_p,
  list_dir = core.list_dir,
  stat = core.stat,
  remove_tree = core.remove_tree,
}
-- core.save_safetensors, taking a module's state dict (graphids.nn.StateDict, ordered) as well
-- as a plain table: save_safetensors(path, model:state_dict()) is torch.save(model.state_dict(),
-- path), and load_safetensors' table is what load_state_dict takes back.
function M.save_safetensors(path, tensors, ...)
  local mt = type(tensors) == "table" and getmetatable(tensors)
  if mt and type(tensors.items) == "function" and type(tensors.keys) == "function" then
    local plain = {}
    for name, t in tensors:items() do plain[name] = t end
    tensors = plain
  end
  return core.save_safetensors(path, tensors, ...)
end

-- graphids.io.save / graphids.io.load: the names the safetensors API is known by.
M.save = M.save_safetensors
M.load = M.load_safetensors

-- Joins path parts with "/", dropping empty parts and doubled separators.
function M.join(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    assert(type(p) == "string", "io.join: parts must be strings")
    if p ~= "" then
      parts[#parts + 1] = p
    end
  end
  return (table.concat(parts, "/"):gsub("//+", "/"))
end

-- An empty path and one holding a NUL byte name nothing: false, as for any path that is not
-- there (core.stat raises on both; a caller asking "is it there?" wants the answer, not that).
local function names_nothing(path)
  return path == "" or (type(path) == "string" and path:find("\0", 1, true) ~= nil)
end

function M.exists(path)
  return not names_nothing(path) and core.stat(path) ~= nil
end

function M.is_dir(path)
  if names_nothing(path) then return false end
  local st = core.stat(path)
  return st ~= nil and st.type == "dir"
end

-- The whole file as a string, or nil, message (missing, unreadable, or no regular file).  The
-- type is checked first: io.open of a FIFO waits for a writer forever, and io.open succeeds on
-- a directory and only the read fails.  (A missing file is left to io.open's message.)  An
-- empty path and one holding a NUL byte name no file: nil and why, as for any other path that
-- does not read (core.stat raises on both, and io.open would cut the path at the NUL).
function M.read_file(path)
  if path == "" then return nil, "read_file: the path is empty" end
  local nul = type(path) == "string" and path:find("\0", 1, true)
  if nul then
    return nil, string.format("%s: the path holds a NUL byte at byte %d; no file has such a name",
      json.printable(path, 200), nul)
  end
  local st = core.stat(path)
  if st ~= nil and st.type ~= "file" then
    return nil, string.format("%s: not a regular file (%s)", path,
      st.type == "dir" and "a folder" or "a FIFO, socket or device")
  end
  local f, err = io.open(path, "rb")
  if not f then
    return nil, err
  end
  local s, rerr = f:read("a")
  f:close()
  if s == nil then
    return nil, path .. ": " .. tostring(rerr)
  end
  return s
end

-- The last complete line of a file, without its newline (nil when the file is missing or ends
-- in no newline), reading only its last `max` bytes (default 64 KiB): an appender's check of
-- what it wrote last, without reading a long log.
function M.last_line(path, max)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end") or 0
  f:seek("set", math.max(0, size - (max or 65536)))
  local tail = f:read("a") or ""
  f:close()
  return tail:match("([^\n]*)\n$")
end

-- value -> JSON text (sorted keys, 2-space indent, final newline), written atomically.
function M.write_json(path, value)
  return core.atomic_write(path, json.encode(value, { indent = 2 }) .. "\n")
end

M.read_json = json.read_file

return M
