-- recipes/stages/fusion_states.lua -- extraction of the fusion states: the VGAE's and the GAT's
-- extract_features over the train, val and every test split, into safetensors files read by
-- the fusion stage (graphids.orchestrate.fusion_states).
-- TLAs: the common ones, vgae_ckpt and gat_ckpt (required), batch_size, loss (the GAT's loss:
-- names the variant when not focal); max_train (0 = every train graph) from the dataset preset
-- caps the train states with a seeded sample.
local S = import("../lib/stage.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ vgae_ckpt = "", gat_ckpt = "", batch_size = 256,
    loss = "focal" })))
  local base = S.expert_variant(a, "vgae_gat")
  return {
    kind = "extract",
    identity = { dataset = a.dataset, stage = "fusion_states", variant = S.variant(a, base),
      seed = a.seed, scale = a.scale },
    vgae_ckpt = a.vgae_ckpt,
    gat_ckpt = a.gat_ckpt,
    out_dir = S.run_dir(a, "fusion_states", base),
    data = S.data_args(a, { batch_size = a.batch_size }),
    max_train = S.settings(a).fusion_max_train or 0,
    -- portable graphs: train and val states also with every id unknown (docs/orchestration.md)
    unknown_id_view = a.graphs == "portable",
    -- portable graphs: each capture's anomaly-detector columns on the train captures' scale
    calibration = S.state_calibration(a),
    device = a.device,
  }
end
