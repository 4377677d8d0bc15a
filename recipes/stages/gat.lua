-- recipes/stages/gat.lua -- the supervised GAT classifier (the KD teacher).
--   graphids fit --config recipes/stages/gat.lua --tla dataset=hcrl_sa --tla loss=focal
-- TLAs: the common ones (lib/args.lua), loss (focal | ce | weighted_ce), conv_type (gatv2 |
-- gat | transformer).  Variant = the loss, so each loss arm has its own run dir.
local S = import("../lib/stage.lua")
local P = import("../presets/models.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ loss = "focal", conv_type = "gatv2" })))
  return S.stage(a, {
    stage = "gat", variant = a.loss,
    model = P.graph("gat", a.scale, { loss_fn = a.loss, conv_type = a.conv_type,
      id_encoder_kwargs = S.gat_id_encoder(a) }),
    ema = S.GAT_EMA,
    derived = { ["model.init_args.loss_fn"] = "loss" },
  })
end
