-- graphids.models -- the intrusion-detection models, their losses and the class-path registry.
--   local models = require "graphids.models"
--   local cls = models.resolve("graphids.models.GATClassifier")
--   local m = cls(models.presets.gat.small({ num_ids = 2047 }))    -- or cls.new(hp)
--   local again = models.resolve(m.class_path)(m:hparams())          -- same architecture
--   models.GATClassifier, models.VGAE, ... are the classes (loaded on first use).
-- docs/models.md describes every model, the presets, the step API and the departures from the
-- reference.
local U = require "graphids.nn._util"

local M = {}

-- class path -> module and field.  Every class a configuration or checkpoint may name.
local CLASSES = {
  ["graphids.models.GATClassifier"] = { "graphids.models.gat", "GATClassifier" },
  ["graphids.models.VGAE"] = { "graphids.models.vgae", "VGAE" },
  ["graphids.models.DGI"] = { "graphids.models.dgi", "DGI" },
  ["graphids.models.id_encoder.LookupIdEncoder"] = { "graphids.models.id_encoder",
    "LookupIdEncoder" },
  ["graphids.models.id_encoder.HashIdEncoder"] = { "graphids.models.id_encoder", "HashIdEncoder" },
  ["graphids.models.losses.CrossEntropyLoss"] = { "graphids.models.losses", "CrossEntropyLoss" },
  ["graphids.models.losses.WeightedCrossEntropyLoss"] = { "graphids.models.losses",
    "WeightedCrossEntropyLoss" },
  ["graphids.models.losses.FocalLoss"] = { "graphids.models.losses", "FocalLoss" },
  ["graphids.models.losses.VGAETaskLoss"] = { "graphids.models.losses", "VGAETaskLoss" },
  ["graphids.models.distill.SoftLabelDistillation"] = { "graphids.models.distill",
    "SoftLabelDistillation" },
  ["graphids.models.distill.FeatureDistillation"] = { "graphids.models.distill",
    "FeatureDistillation" },
  ["graphids.models.fusion.DQNFusion"] = { "graphids.models.fusion.dqn", "DQNFusion" },
  ["graphids.models.fusion.BanditFusion"] = { "graphids.models.fusion.bandit", "BanditFusion" },
  ["graphids.models.fusion.MLPFusion"] = { "graphids.models.fusion.simple", "MLPFusion" },
  ["graphids.models.fusion.WeightedAvgFusion"] = { "graphids.models.fusion.simple",
    "WeightedAvgFusion" },
}

-- Every registered class path, sorted.
function M.class_paths()
  return U.sorted_keys(CLASSES)
end

local distance = U.edit_distance

-- The class of a class path; an unknown path raises listing the closest registered ones (of
-- `among`, a list of class paths, when given: the models alone, for a model's class path).
function M.resolve(class_path, among)
  if type(class_path) ~= "string" then
    error("graphids.models.resolve: class_path must be a string, got " .. type(class_path), 2)
  end
  local entry = CLASSES[class_path]
  if entry == nil then
    local scored = {}
    -- (a path ending in "." has no last name: the whole path is compared)
    local last = (class_path:match("([^.]+)$") or class_path):lower()
    for _, p in ipairs(among or M.class_paths()) do
      local plast = p:match("([^.]+)$"):lower()
      local d = math.min(distance(class_path, p), distance(last, plast))
      -- a name the class's name begins with ("GAT" for "GATClassifier") is as close as one edit
      if #last > 2 and plast:sub(1, #last) == last then d = math.min(d, 1) end
      scored[#scored + 1] = { p, d }
    end
    table.sort(scored, function(a, b) return a[2] < b[2] or (a[2] == b[2] and a[1] < b[1]) end)
    local close = {}
    for i = 1, math.min(3, #scored) do
      close[i] = scored[i][1]
    end
    error(string.format("graphids.models.resolve: unknown class path '%s' (closest: %s)",
      class_path, table.concat(close, ", ")), 2)
  end
  local cls = require(entry[1])[entry[2]]
  assert(cls ~= nil, entry[1] .. " has no " .. entry[2])
  return cls
end

-- Builds a class from its path and a table of kwargs (hyper-parameters).
function M.instantiate(class_path, hp)
  return M.resolve(class_path)(hp)
end

-- Fields loaded on first use besides the classes named graphids.models.<Name>.
local SUBMODULES = { presets = "graphids.models.presets" }

return setmetatable(M, {
  __index = function(_, k)
    if SUBMODULES[k] then
      return require(SUBMODULES[k])
    end
    local entry = CLASSES["graphids.models." .. tostring(k)]
    if entry then
      return require(entry[1])[entry[2]]
    end
    return nil
  end,
  -- What __index resolves under a plain name (the REPL's Tab completion, graphids.repl):
  -- models.losses.FocalLoss is a class path, not a field.  Listing a name loads nothing.
  __names = function()
    local names = U.sorted_keys(SUBMODULES)
    for path in pairs(CLASSES) do
      local name = path:match("^graphids%.models%.([%w_]+)$")
      if name then
        names[#names + 1] = name
      end
    end
    return names
  end,
})
