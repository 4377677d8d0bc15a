-- recipes/stages/fusion.lua -- fusion of the VGAE and GAT experts over the 15-D states written
-- by the fusion_states stage.
--   graphids fit --config recipes/stages/fusion.lua --tla method=mlp --tla states_dir=lake/.../seed_42
-- TLAs: the common ones, method (weighted_avg, the default | bandit | dqn | mlp), states_dir
-- (required), loss (the loss of the GAT whose states it fuses: names the variant when not focal).
-- The RL policies (dqn, bandit) monitor val_acc/max, the supervised ones (mlp, weighted_avg)
-- val_loss/min (docs/recipes.md, "Fusion monitors"); no gradient clipping.
local S = import("../lib/stage.lua")
local P = import("../presets/models.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ method = "weighted_avg", states_dir = "", loss = "focal" })))
  if a.states_dir == "" then
    error("fusion needs --tla states_dir=<the fusion_states stage's run dir>", 0)
  end
  local st = S.settings(a)
  -- RL methods see one "episode" of states per step, the others plain minibatches.
  local rl = a.method == "dqn" or a.method == "bandit"
  return S.stage(a, {
    stage = "fusion", variant = S.expert_variant(a, a.method), fusion = true,
    monitor = rl and { monitor = "val_acc", mode = "max" } or nil,
    model = P.fusion(a.method),
    derived = { ["model.class_path"] = "method" },
    data_block = {
      class_path = "graphids.orchestrate.fusion_data.FusionDataModule",
      init_args = { states_dir = a.states_dir, seed = a.seed, dataset = a.dataset,
        batch_size = rl and 20000 or st.fusion_batch_size },
    },
  })
end
