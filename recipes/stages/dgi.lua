-- recipes/stages/dgi.lua -- the DGI anomaly detector (SVDD distance), benign windows only.
--   graphids fit --config recipes/stages/dgi.lua --tla dataset=hcrl_sa
local S = import("../lib/stage.lua")
local P = import("../presets/models.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ conv_type = "gatv2" })))
  return S.stage(a, {
    stage = "dgi", variant = "dgi",
    model = P.graph("dgi", a.scale, { conv_type = a.conv_type }),
    data = { label_filter = "benign" },
  })
end
