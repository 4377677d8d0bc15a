-- graphids.data -- CAN logs, window graphs, the dataset cache, batches and the data module.
--   local data = require "graphids.data"
--   local frames = data.read_can("capture.csv")          -- graphids.data.can
--   local dm = data.GraphDataModule{dataset = "hcrl_sa", data_root = "..."}
--
-- Each area is its own submodule (graphids.data.<area>); this table merges their exports on
-- first use, so `require "graphids.data"` is cheap and a name is defined in one place only.
local AREAS = { "can", "windows", "batch", "catalog", "cache", "datamodule" }

local data = {}
local loaded = false

local function load_all()
  loaded = true
  for _, area in ipairs(AREAS) do
    local ok, mod = pcall(require, "graphids.data." .. area)
    if not ok then
      if not tostring(mod):find("module 'graphids.data." .. area .. "' not found", 1, true) then
        error(mod, 0)
      end
    else
      for name, value in pairs(mod) do
        assert(rawget(data, name) == nil, "graphids.data: " .. name .. " defined twice")
        rawset(data, name, value)
      end
    end
  end
end

return setmetatable(data, {
  __index = function(t, k)
    if loaded then
      return nil
    end
    load_all()
    return rawget(t, k)
  end,
  -- Every area's exports, for the REPL's Tab completion (graphids.repl).  Only the areas know
  -- their names, so listing them loads the areas, as the first lookup would.
  __names = function(t)
    if not loaded then
      load_all()
    end
    local names = {}
    for k in pairs(t) do
      names[#names + 1] = k
    end
    return names
  end,
})
