-- graphids.models.distill -- knowledge-distillation losses: a student trained against a frozen
-- teacher (the large preset distilled into the small one).
--   local D = require "graphids.models.distill"
--   local kd = D.SoftLabelDistillation(student.loss_fn, teacher, { T = 4, alpha = 0.7 })
--   student:set_loss_fn(kd)                         -- GATClassifier
--   local fd = D.FeatureDistillation(vgae_s.loss_fn, vgae_t,
--     { student_latent_dim = 16, latent_weight = 1, recon_weight = 1, alpha = 0.7 })
--   vgae_s:set_loss_fn(fd)                          -- fd.projection (Linear 16 -> 64) trains too
--   D.attach(student, teacher, { alpha = 0.7 })     -- the wrapper the student's family uses
-- The teacher is frozen (requires_grad off) and in eval mode; it is stored outside the loss's
-- modules (not in parameters() or state_dict()), kept on the CPU, and moved to the student's
-- device only for its forward, then back (the reference's VRAM fix).
local graphids = require "graphids"
local F = require "graphids.nn.functional"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local linear = require "graphids.nn.linear"

local M = {}

-- Freezes the teacher and keeps it out of the owner's modules.
local function attach_teacher(self, name, teacher)
  if not class.isinstance(teacher, Module) then
    error(string.format("%s: teacher must be a model, got %s", name, class.name_of(teacher)),
      U.CTOR + 1)
  end
  teacher:requires_grad_(false)
  teacher:eval()
  rawset(self, "teacher", teacher)
end

-- The teacher's forward on the device of `like`, under no_grad and in eval mode; the teacher
-- goes back to the CPU afterwards.
local function run_teacher(self, like, fn)
  local t = rawget(self, "teacher")
  local dev = like.device
  local moved = dev ~= "cpu"
  if moved then
    t:to(dev)
  end
  t:eval()
  local ok, a, b = pcall(graphids.no_grad, fn, t)
  if moved then
    t:to("cpu")
  end
  if not ok then
    error(a, 0)
  end
  return a, b
end

-- ------------------------------------------------------------------ soft labels (classifiers)
local Soft = class("SoftLabelDistillation", Module)
Soft.class_path = "graphids.models.distill.SoftLabelDistillation"

-- loss = alpha T^2 KL(softmax(t / T) || softmax(s / T)) (batchmean) + (1 - alpha) base.
function Soft:__init(base, teacher, opts)
  Module.__init(self)
  local o = U.options("SoftLabelDistillation", opts, { T = 4.0, alpha = 0.7 }, U.CTOR)
  if o.T <= 0 then
    error("SoftLabelDistillation: T must be > 0, got " .. tostring(o.T), U.CTOR)
  end
  if o.alpha < 0 or o.alpha > 1 then
    error("SoftLabelDistillation: alpha must be in [0, 1], got " .. tostring(o.alpha), U.CTOR)
  end
  self.T, self.alpha = o.T, o.alpha
  self.base_loss = base
  attach_teacher(self, "SoftLabelDistillation", teacher)
end

-- The soft term alone, from student and teacher logits.
function M.soft_label_kl(student_logits, teacher_logits, T)
  local log_p = F.log_softmax(student_logits / T, 2)
  local q = F.softmax(teacher_logits / T, 2)
  return F.kl_div(log_p, q, { reduction = "batchmean" }) * (T * T)
end

-- logits of the student, labels, and the batch the teacher reads.  Returns the total and
-- {hard_loss, soft_loss}.
function Soft:forward(logits, labels, batch)
  local hard = self.base_loss(logits, labels, batch)
  local t_logits = run_teacher(self, logits, function(t) return (t(batch)) end)
  if t_logits:size(2) ~= logits:size(2) then
    error(string.format("SoftLabelDistillation: teacher gives %d classes, student %d",
      t_logits:size(2), logits:size(2)), 0)
  end
  local soft = M.soft_label_kl(logits, t_logits, self.T)
  return soft * self.alpha + hard * (1 - self.alpha), { hard_loss = hard, soft_loss = soft }
end

M.SoftLabelDistillation = Soft

-- ------------------------------------------------------------------ features (autoencoders)
local Feat = class("FeatureDistillation", Module)
Feat.class_path = "graphids.models.distill.FeatureDistillation"

-- loss = alpha (latent_weight MSE(proj(z_s), z_t) + recon_weight MSE(recon_s, recon_t))
--        + (1 - alpha) base.
-- opts.student_latent_dim: the student's latent width; a Linear projection to the teacher's
-- (teacher.hp.latent_dim) is created when they differ (parameters projection.*).
function Feat:__init(base, teacher, opts)
  Module.__init(self)
  local o = U.options("FeatureDistillation", opts, { latent_weight = 1.0, recon_weight = 1.0,
    alpha = 0.7, student_latent_dim = U.NONE }, U.CTOR)
  if o.alpha < 0 or o.alpha > 1 then
    error("FeatureDistillation: alpha must be in [0, 1], got " .. tostring(o.alpha), U.CTOR)
  end
  -- (a negative weight makes the loss unbounded below: the student would drift from the teacher)
  for _, k in ipairs({ "latent_weight", "recon_weight" }) do
    if not (o[k] >= 0) then -- luacheck: ignore 581 (NaN must fail too)
      error(string.format("FeatureDistillation: %s must be >= 0, got %s", k, tostring(o[k])), U.CTOR)
    end
  end
  self.latent_weight, self.recon_weight, self.alpha = o.latent_weight, o.recon_weight, o.alpha
  self.base_loss = base
  attach_teacher(self, "FeatureDistillation", teacher)
  local t_dim = teacher.hp and teacher.hp.latent_dim
  local s_dim = o.student_latent_dim or t_dim
  if math.type(s_dim) ~= "integer" or math.type(t_dim) ~= "integer" then
    error("FeatureDistillation: needs student_latent_dim and a teacher with hp.latent_dim",
      U.CTOR)
  end
  if s_dim ~= t_dim then
    self.projection = linear.Linear(s_dim, t_dim)
  end
end

-- out: the student's forward outputs (z, cont); batch, ctx as the base loss takes them.
-- Returns the total and {task_loss, kd_loss, and the base loss's parts}.
function Feat:forward(out, batch, ctx)
  local task, parts = self.base_loss(out, batch, ctx)
  local tz, tcont = run_teacher(self, out.z, function(t)
    local o = t(batch, {})
    return o.z, o.cont
  end)
  local zs = self.projection and self.projection(out.z) or out.z
  local kd = F.mse_loss(zs, tz) * self.latent_weight + F.mse_loss(out.cont, tcont) *
    self.recon_weight
  local logs = { task_loss = task, kd_loss = kd }
  for k, v in pairs(parts or {}) do
    logs[k] = v
  end
  return kd * self.alpha + task * (1 - self.alpha), logs
end

M.FeatureDistillation = Feat

-- A distilled student's state as its plain model holds it: the wrapped loss's state
-- (loss_fn.base_loss.*: a weighted CE's class weights) back under loss_fn.*, the training-only
-- projection (loss_fn.projection.*) dropped.  A checkpoint keeps the distilled state (a resume
-- needs the projection); a model rebuilt from its class path and hyper-parameters to run (a
-- fusion expert, a later teacher) loads this.  Returns the state and whether it changed.
function M.plain_state(state)
  local out, changed = {}, false
  for k, v in pairs(state) do
    local rest = k:match("^loss_fn%.base_loss%.(.+)$")
    if rest ~= nil then
      out["loss_fn." .. rest], changed = v, true
    elseif k:match("^loss_fn%.projection%.") then
      changed = true
    else
      out[k] = v
    end
  end
  return out, changed
end

-- ------------------------------------------------------------------ a teacher not loaded
-- What a distilled student is built with when the command runs no distillation loss (testing
-- it, analysing its embeddings): the student's checkpoint holds all of its own state (the
-- teacher is never in it), so the teacher's checkpoint need not exist.  Running the loss
-- raises, naming the checkpoint and why it was not loaded.
--   D.attach(student, D.AbsentTeacher(student.class_path, path, "graphids test runs no loss"))
local Absent = class("AbsentTeacher", Module)
M.AbsentTeacher = Absent

function Absent:__init(class_path, ckpt, why)
  Module.__init(self)
  self.class_path, self.ckpt, self.why = class_path, ckpt, why
end

function Absent:forward()
  error(string.format("the distillation teacher %s was not loaded (%s); the distillation loss " ..
    "needs it", tostring(self.ckpt), tostring(self.why)), 0)
end

-- Whether a student of class_path can be built without its teacher: soft labels take nothing
-- from it; feature distillation sizes its projection (in the student's checkpoint) by the
-- teacher's latent width.
function M.builds_without_teacher(class_path)
  return class_path == "graphids.models.GATClassifier"
end

-- The teacher a distilled student trains against (attach put it on the student's loss), or nil
-- (an AbsentTeacher is none).
function M.teacher_of(student)
  local loss = type(student) == "table" and rawget(student, "loss_fn") or nil
  local t = type(loss) == "table" and rawget(loss, "teacher") or nil
  if class.isinstance(t, Absent) then return nil end
  return t
end

-- Wraps the student's loss in the distillation its family uses (the reference's build_loss):
-- soft labels for a GATClassifier, features for a VGAE; the teacher must be of the student's
-- class (or an AbsentTeacher of a student that builds without it).  opts go to the wrapper.
-- Returns the student.
function M.attach(student, teacher, opts)
  local path = student.class_path
  if teacher == nil or teacher.class_path ~= path then
    error(string.format("distill.attach: the teacher must be a %s like the student, got %s",
      tostring(path), teacher and tostring(teacher.class_path) or "nil"), 2)
  end
  if path == "graphids.models.GATClassifier" then
    return student:set_loss_fn(Soft(student.loss_fn, teacher, opts))
  elseif path == "graphids.models.VGAE" and class.isinstance(teacher, Absent) then
    error("distill.attach: a VGAE student needs its teacher to be built (its latent width sizes the " ..
      "projection)", 2)
  elseif path == "graphids.models.VGAE" then
    local o = {}
    for k, v in pairs(opts or {}) do
      o[k] = v
    end
    o.student_latent_dim = student.hp.latent_dim
    return student:set_loss_fn(Feat(student.loss_fn, teacher, o))
  end
  error(string.format("distill.attach: no distillation for %s (GATClassifier and VGAE have one)",
    tostring(path)), 2)
end

return M
