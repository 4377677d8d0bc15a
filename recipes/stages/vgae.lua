-- recipes/stages/vgae.lua -- the VGAE anomaly detector, trained on benign windows only.
--   graphids fit --config recipes/stages/vgae.lua --tla dataset=hcrl_sa
-- TLAs: the common ones, conv_type.  The anomaly score is the calibrated one (z-scores of the
-- log errors, fitted on the benign training graphs; docs/models.md).
local S = import("../lib/stage.lua")
local P = import("../presets/models.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ conv_type = "gatv2" })))
  return S.stage(a, {
    stage = "vgae", variant = "vgae",
    model = P.graph("vgae", a.scale, { conv_type = a.conv_type, score = "calibrated" }),
    data = { label_filter = "benign" },
  })
end
