-- recipes/stages/fusion.lua -- fusion of the VGAE and GAT experts over the 15-D states written
-- by the fusion_states stage.
--   graphids fit --config recipes/stages/fusion.lua --tla method=mlp --tla states_dir=lake/.../seed_42
-- TLAs: the common ones, method (bandit | dqn | mlp | weighted_avg), states_dir (required).
-- Monitors val_acc/max (the reference's fusion rule); no gradient clipping.
local S = import("../lib/stage.lua")
local P = import("../presets/models.lua")

return function(tla)
  local a = arguments(tla, S.args({ method = "mlp", states_dir = "" }))
  if a.states_dir == "" then
    error("fusion needs --tla states_dir=<the fusion_states stage's run dir>")
  end
  local st = S.settings(a)
  -- RL methods see one "episode" of states per step, the others plain minibatches.
  local rl = a.method == "dqn" or a.method == "bandit"
  return S.stage(a, {
    stage = "fusion", variant = a.method, fusion = true,
    model = P.fusion(a.method),
    data_block = {
      class_path = "graphids.orchestrate.fusion_data.FusionDataModule",
      init_args = { states_dir = a.states_dir, seed = a.seed,
        batch_size = rl and 20000 or st.fusion_batch_size },
    },
  })
end
