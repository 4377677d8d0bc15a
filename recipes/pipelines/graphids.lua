-- recipes/pipelines/graphids.lua -- the whole method as a DAG: VGAE -> GAT teacher -> distilled
-- GAT student -> fusion states (VGAE + GAT features) -> fusion.
--   graphids pipeline recipes/pipelines/graphids.lua [--tla dataset=hcrl_sa --data-root ...] [--dry-run]
-- Each stage names its recipe and TLAs; `inputs` maps a TLA of the stage to an upstream stage,
-- whose checkpoint (or, for the extract stage, its output folder) is passed as that TLA.
-- TLAs: the common ones, fusion_method (weighted_avg, the only method measured at least as good
-- as the GAT on every seed, docs/orchestration.md; bandit, the reference paper's; mlp, dqn), loss,
-- kd (false leaves out the distilled student).
local S = import("../lib/stage.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ fusion_method = "weighted_avg", loss = "focal", kd = true })))
  local common = { dataset = a.dataset, seed = a.seed, scale = a.scale, data_root = a.data_root,
    lake_root = a.lake_root, graphs = a.graphs, device = a.device }
  local stages = {
    { name = "vgae", recipe = "stages/vgae.lua", tla = common },
    { name = "gat", recipe = "stages/gat.lua", tla = merge(common, { loss = a.loss }) },
    -- (the loss names the fusion stages' variants too: two losses' pipelines share no folder)
    { name = "fusion_states", recipe = "stages/fusion_states.lua", tla = merge(common, { loss = a.loss }),
      inputs = { vgae_ckpt = "vgae", gat_ckpt = "gat" } },
    { name = "fusion", recipe = "stages/fusion.lua",
      tla = merge(common, { method = a.fusion_method, loss = a.loss }),
      inputs = { states_dir = "fusion_states" } },
  }
  if a.kd then
    table.insert(stages, 3,
      { name = "gat_kd", recipe = "stages/gat_kd.lua", tla = merge(common, { loss = a.loss }),
        inputs = { teacher_ckpt = "gat" } })
  end
  return { name = "graphids", stages = stages }
end
