-- graphids.errors -- an error message caught from graphids' own code, made fit to raise again
-- under another name (a configuration key, a CLI command, a checkpoint):
--   local msg = errors.strip_own_position(err)
--   error("'data.init_args.dataset': " .. msg, 0)
-- It drops the "file.lua:123: " positions opening the message that lie inside graphids' own Lua
-- modules: they tell a user nothing and push the message aside.  A position anywhere else stays:
-- a recipe, a catalog file, a script or a user's own model class is a file the user wrote, and
-- the line in it is what they need ("mine.lua:3: boom").  A renamed function's error is
-- core._named's or core._call_as's business, not this (docs/development.md, "Errors").
-- No dependencies.
local M = {}

-- The folder of the graphids Lua modules as their chunk names spell it ("/x/stdlib/graphids/"):
-- every module is loaded through the same package.path entry as this one.
local OWN_DIR = debug.getinfo(1, "S").source:match("^@(.*/)errors%.lua$")

-- Whether src (a position's file, as Lua's short_src writes it) is one of graphids' modules.
local function is_own(src)
  if OWN_DIR == nil then return false end
  if src:sub(1, #OWN_DIR) == OWN_DIR then return true end
  if src:sub(1, 3) ~= "..." then return false end
  -- Lua cut a long source name to "..." and its tail (a deep install prefix): ours when a
  -- module file under OWN_DIR ends with that tail
  local tail = src:sub(4)
  for i in tail:gmatch("()/") do
    local path = OWN_DIR .. tail:sub(i + 1)
    local f = io.open(path, "r")
    if f then
      f:close()
      if path:sub(-#tail) == tail then return true end
    end
  end
  return false
end

-- tostring(err) without the positions inside graphids' own modules that open it (a message
-- raised again with error(msg) gains one more each time).  Only the start of the message is
-- looked at: a position later in it (a traceback line, a quoted value) stays as it is.
function M.strip_own_position(err)
  local msg = tostring(err)
  while true do
    local src, rest = msg:match("^([^:\n]*%.lua):%d+: (.*)$")
    if src == nil or not is_own(src) then return msg end
    msg = rest
  end
end

return M
