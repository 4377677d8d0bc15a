-- recipes/stages/gat_kd.lua -- a reduced GAT student distilled from a teacher checkpoint (soft
-- labels, T = 4, alpha = 0.7).
--   graphids fit --config recipes/stages/gat_kd.lua --tla teacher_ckpt=lake/.../best_model.safetensors
-- TLAs: the common ones, teacher_ckpt (required), loss (the student's hard loss), T, alpha.
local S = import("../lib/stage.lua")
local P = import("../presets/models.lua")

return function(tla)
  local a = S.checked(arguments(tla, S.args({ teacher_ckpt = "", loss = "focal", T = 4.0, alpha = 0.7 })))
  if a.teacher_ckpt == "" then
    error("gat_kd needs --tla teacher_ckpt=<the GAT teacher's best_model.safetensors>", 0)
  end
  return S.stage(a, {
    stage = "gat_kd", variant = "student_" .. a.loss,
    model = P.graph("student", a.scale, { loss_fn = a.loss, id_encoder_kwargs = S.gat_id_encoder(a) }),
    distillation = { teacher_ckpt = a.teacher_ckpt, T = a.T, alpha = a.alpha },
    ema = S.GAT_EMA,
    derived = { ["model.init_args.loss_fn"] = "loss" },
  })
end
