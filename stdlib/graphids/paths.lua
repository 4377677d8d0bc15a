-- graphids.paths -- where the files that ship beside the Lua library are.
--   local paths = require "graphids.paths"
--   paths.recipes_root()   --> ".../recipes" (stage recipes, presets, the dataset catalog)
-- $GRAPHIDS_RECIPES overrides.  Otherwise the folder is found from this file's own location:
-- in a source tree <root>/stdlib/graphids/paths.lua -> <root>/recipes; installed (make install)
-- <prefix>/share/lua/5.4/graphids/paths.lua -> <prefix>/share/graphids/recipes.
local M = {}

function M.recipes_root()
  local env = os.getenv("GRAPHIDS_RECIPES")
  if env and env ~= "" then
    return env
  end
  local src = debug.getinfo(1, "S").source
  local root = src:match("^@(.*)/stdlib/graphids/paths%.lua$")
  if root == nil and src:match("^@stdlib/graphids/paths%.lua$") then
    root = "."
  end
  if root then
    return root .. "/recipes"
  end
  local prefix = src:match("^@(.*)/share/lua/5%.4/graphids/paths%.lua$")
  return prefix and (prefix .. "/share/graphids/recipes") or nil
end

return M
