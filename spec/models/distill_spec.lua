-- distill_spec.lua -- knowledge distillation against PyTorch (spec/fixtures/models/distill,
-- written by tools/make_model_fixtures.py): the soft-label and feature losses and their
-- gradients; the teacher frozen, in eval mode and outside the student's parameters and state.
local graphids = require "graphids"
local cjson = require "cjson"
local class = require "graphids.class"
local fx = require "fixtures"
local h = require "helpers"
local safetensors = require "safetensors"
local nn = require "graphids.nn"
local D = require "graphids.models.distill"
local L = require "graphids.models.losses"

local f = assert(safetensors.load("spec/fixtures/models/distill.safetensors"))
local t, case = f.tensors, cjson.decode(f.metadata.case)

-- A teacher that answers fixed logits (or latents) whatever the batch, and counts its calls.
local Fixed = class("Fixed", nn.Module)
function Fixed:__init(out)
  nn.Module.__init(self)
  self.lin = nn.Linear(2, 2)
  self.out = out
  self.calls = 0
  self.hp = { latent_dim = 6 }
end
function Fixed:forward()
  self.calls = self.calls + 1
  assert(not self.training, "the teacher runs in eval mode")
  assert(not graphids.is_grad_enabled(), "the teacher runs without grad")
  return self.out
end

describe("SoftLabelDistillation", function()
  it("matches torch: alpha T^2 KL(batchmean) + (1 - alpha) CE, and its gradient", function()
    local errs = {}
    local teacher = Fixed(t["input.teacher_logits"])
    teacher:train()
    local kd = D.SoftLabelDistillation(L.CrossEntropyLoss(), teacher,
      { T = case.T, alpha = case.alpha })
    assert.is_false(teacher.training)
    local s = t["input.student_logits"]:clone():requires_grad_(true)
    local total, parts = kd(s, t["input.labels"], {})
    fx.check(errs, "total", total, t["output.total"])
    fx.check(errs, "soft", parts.soft_loss, t["output.soft"])
    fx.check(errs, "hard", parts.hard_loss, t["output.hard"])
    total:backward()
    fx.check(errs, "grad", s.grad, t["grad.student_logits"])
    assert(#errs == 0, table.concat(errs, "\n"))
    assert.equal(1, teacher.calls)
  end)

  it("keeps the teacher frozen and out of the loss's parameters and state_dict", function()
    local teacher = Fixed(t["input.teacher_logits"])
    local kd = D.SoftLabelDistillation(L.WeightedCrossEntropyLoss({ weights = { 1, 3 } }), teacher)
    assert.equal(0, #kd:parameters())
    assert.same({ "base_loss.weights" }, kd:state_dict():keys())
    for _, p in ipairs(teacher:parameters()) do
      assert.is_false(p.requires_grad)
    end
    assert.equal(4.0, kd.T)
    assert.equal(0.7, kd.alpha)
    h.errors("teacher must be a model", D.SoftLabelDistillation, L.CrossEntropyLoss(), {})
    h.errors("alpha must be in %[0, 1%]", D.SoftLabelDistillation, L.CrossEntropyLoss(), teacher,
      { alpha = 2 })
    h.errors("unknown option 'temperature'", D.SoftLabelDistillation, L.CrossEntropyLoss(),
      teacher, { temperature = 2 })
  end)
end)

describe("FeatureDistillation", function()
  it("projects the student's latent to the teacher's width and matches torch", function()
    local errs = {}
    local teacher = Fixed({ z = t["input.teacher_z"], cont = t["input.teacher_recon"] })
    local base = function(out) return out.z:square():mean() + out.cont:mean(), {} end
    local fd = D.FeatureDistillation(base, teacher, { student_latent_dim = 4,
      latent_weight = case.latent_weight, recon_weight = case.recon_weight, alpha = case.alpha })
    assert.same({ 6, 4 }, fd.projection.weight.shape)
    fd:load_state_dict({ ["projection.weight"] = t["param.projection.weight"],
      ["projection.bias"] = t["param.projection.bias"] })
    local z = t["input.student_z"]:clone():requires_grad_(true)
    local r = t["input.student_recon"]:clone():requires_grad_(true)
    local total, parts = fd({ z = z, cont = r }, {}, {})
    fx.check(errs, "total", total, t["output.feature_total"])
    fx.check(errs, "kd", parts.kd_loss, t["output.feature_kd"])
    total:backward()
    fx.check(errs, "grad z", z.grad, t["grad.student_z"])
    fx.check(errs, "grad recon", r.grad, t["grad.student_recon"])
    fx.check(errs, "grad projection.weight", fd.projection.weight.grad,
      t["grad.projection.weight"])
    fx.check(errs, "grad projection.bias", fd.projection.bias.grad, t["grad.projection.bias"])
    assert(#errs == 0, table.concat(errs, "\n"))
    -- equal widths: no projection
    local same = D.FeatureDistillation(base, teacher, { student_latent_dim = 6 })
    assert.is_nil(same.projection)
    -- a negative weight would make the loss unbounded below
    h.errors("latent_weight must be >= 0, got %-1", D.FeatureDistillation, base, teacher,
      { student_latent_dim = 6, latent_weight = -1 })
    h.errors("recon_weight must be >= 0, got %-0.5", D.FeatureDistillation, base, teacher,
      { student_latent_dim = 6, recon_weight = -0.5 })
  end)
end)

describe("distill.attach", function()
  it("wraps a GAT's loss in soft labels and a VGAE's in feature distillation", function()
    local models = require "graphids.models"
    local P = models.presets
    local s = models.GATClassifier(P.gat.small({ num_ids = 6 }))
    local tg = models.GATClassifier(P.gat.large({ num_ids = 6 }))
    D.attach(s, tg, { T = 2 })
    assert.equal("SoftLabelDistillation", class.name_of(s.loss_fn))
    assert.equal(2, s.loss_fn.T)
    local v = models.VGAE(P.vgae.small({ num_ids = 6 }))
    local n = v:num_parameters()
    D.attach(v, models.VGAE(P.vgae.large({ num_ids = 6 })))
    assert.equal("FeatureDistillation", class.name_of(v.loss_fn))
    -- the projection 16 -> 64 joins the student's parameters, the teacher's do not
    assert.equal(n + 16 * 64 + 64, v:num_parameters())
    h.errors("the teacher must be a graphids.models.VGAE like the student", D.attach,
      models.VGAE(P.vgae.small({ num_ids = 6 })), tg)
    h.errors("no distillation for graphids.models.DGI", D.attach,
      models.DGI(P.dgi.small({ num_ids = 6 })), models.DGI(P.dgi.small({ num_ids = 6 })))
  end)

  it("builds a GAT student without its teacher (AbsentTeacher) with the distilled state's keys",
    function()
      local models = require "graphids.models"
      local P = models.presets
      local hp = P.gat.small({ num_ids = 6, loss_fn = "weighted_ce" })
      local distilled = D.attach(models.GATClassifier(hp),
        models.GATClassifier(P.gat.large({ num_ids = 6 })))
      local path = "lake/x/teacher.safetensors"
      local s = D.attach(models.GATClassifier(hp), D.AbsentTeacher("graphids.models.GATClassifier", path,
        "a test runs no loss"))
      assert.same(distilled:state_dict():keys(), s:state_dict():keys())
      assert.is_nil(D.teacher_of(s), "an absent teacher is none (no CKA against it)")
      assert.is_true(D.builds_without_teacher("graphids.models.GATClassifier"))
      assert.is_false(D.builds_without_teacher("graphids.models.VGAE"))
      -- the test step runs no loss; the training step says why it cannot run
      local graphs = require "models.graphs"
      local b = graphs.batch({ num_ids = 6 })
      s:eval()
      assert.equal(3, s:test_step(b).preds:numel())
      s:train()
      h.errors("the distillation teacher lake/x/teacher.safetensors was not loaded %(a test runs no " ..
        "loss%); the distillation loss needs it", s.training_step, s, b, {})
      -- a VGAE's projection is sized by its teacher's latent width: it needs the teacher
      h.errors("a VGAE student needs its teacher to be built", D.attach,
        models.VGAE(P.vgae.small({ num_ids = 6 })), D.AbsentTeacher("graphids.models.VGAE", path, "no"))
    end)

  it("leaves a checkpoint a plain model of the student's class and hyper-parameters can load",
    function()
      local models = require "graphids.models"
      local P = models.presets
      local ckpt = require "graphids.ckpt"
      local dir = os.tmpname() .. ".d"
      assert(require("graphids.io").mkdir_p(dir))
      local cases = {
        { models.GATClassifier(P.gat.small({ num_ids = 6, loss_fn = "weighted_ce" })),
          models.GATClassifier(P.gat.large({ num_ids = 6 })) },
        { models.VGAE(P.vgae.small({ num_ids = 6 })), models.VGAE(P.vgae.large({ num_ids = 6 })) },
      }
      for i, c in ipairs(cases) do
        local s = D.attach(c[1], c[2])
        local path = dir .. "/s" .. i .. ".safetensors"
        ckpt.save(path, { model = s:state_dict(), class_path = s.class_path,
          hyper_parameters = s:hparams() })
        local plain = require("graphids.orchestrate.instantiate").load_model(path)
        assert.equal(s.class_path, plain.class_path)
        local mine, theirs = plain:state_dict(), s:state_dict()
        for _, name in ipairs(mine:keys()) do
          local src = theirs:get(name) or theirs:get((name:gsub("^loss_fn%.", "loss_fn.base_loss.")))
          assert.is_true(graphids.equal(mine:get(name), src), name)
        end
      end
      os.execute("rm -rf " .. dir)
    end)
end)
