-- recipes/presets/models.lua -- model blocks per family and scale.  The sizes are
-- graphids.models.presets' (the reference's small/large, one source of truth); this file adds
-- the class paths and the knowledge-distillation student, a reduced GAT.
local CLASS = {
  gat = "graphids.models.GATClassifier",
  vgae = "graphids.models.VGAE",
  dgi = "graphids.models.DGI",
}

local FUSION = {
  dqn = "graphids.models.fusion.DQNFusion",
  bandit = "graphids.models.fusion.BanditFusion",
  mlp = "graphids.models.fusion.MLPFusion",
  weighted_avg = "graphids.models.fusion.WeightedAvgFusion",
}

-- The student of a GAT teacher: about a fourteenth of the small teacher's parameters (15 087
-- against 205 211 with hcrl_sa's 2 047 ids; about 1/27 without the id embeddings).
local STUDENT = { hidden = 8, heads = 2, proj_dim = 16, embedding_dim = 4 }

local M = { CLASS = CLASS, FUSION = FUSION }

-- {class_path, init_args} of family ("gat", "vgae", "dgi", "student") at scale.
function M.graph(family, scale, overrides)
  if family == "student" then
    return { class_path = CLASS.gat, init_args = model_preset("gat", "small", merge(STUDENT, overrides)) }
  end
  if CLASS[family] == nil then
    error("no model family '" .. tostring(family) .. "' (gat, vgae, dgi, student)", 0)
  end
  return { class_path = CLASS[family], init_args = model_preset(family, scale, overrides) }
end

-- {class_path, init_args} of a fusion method.
function M.fusion(method, overrides)
  if FUSION[method] == nil then
    error("unknown fusion method '" .. tostring(method) .. "' (bandit, dqn, mlp, weighted_avg)", 0)
  end
  return { class_path = FUSION[method], init_args = model_preset("fusion", method, overrides) }
end

return M
