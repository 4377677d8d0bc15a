-- graphids.shell -- words of a command line the user is told to run (a hint in a message), as
-- a POSIX shell reads them back.
--   local shell = require "graphids.shell"
--   shell.quote("my lake")   --> 'my lake'       shell.quote("lake")   --> lake
--   "--lake-root=" .. shell.quote(root)   (the = form: a root starting with '-' stays its value)
local M = {}

-- word as one shell word: as it is when every byte is one the shell takes literally, else in
-- single quotes (a quote inside as '\'').  The empty word is ''.
function M.quote(word)
  if word:match("^[%w@%%+=:,./_-]+$") then return word end
  return "'" .. word:gsub("'", "'\\''") .. "'"
end

return M
