-- losses_spec.lua -- the classification losses behind the shared (logits, labels, graph)
-- signature: values against nn.functional, class weights as a buffer, build_loss by name, and
-- the errors for bad input.
local graphids = require "graphids"
local h = require "helpers"
local F = require "graphids.nn.functional"
local L = require "graphids.models.losses"

local logits = graphids.tensor({ { 2.0, -1.0 }, { 0.5, 0.25 }, { -3.0, 1.0 } })
local labels = h.long({ 0, 1, 1 })

describe("classification losses", function()
  it("equal nn.functional's cross entropy, weighted cross entropy and focal loss", function()
    h.near(L.build_loss("ce")(logits, labels, {}):item(), F.cross_entropy(logits, labels):item(),
      1e-7)
    local wce = L.build_loss("weighted_ce", { weights = { 1.0, 10.0 } })
    h.near(wce(logits, labels):item(), F.cross_entropy(logits, labels,
      { weight = graphids.tensor({ 1.0, 10.0 }) }):item(), 1e-7)
    assert.same({ "weights" }, wce:state_dict():keys())
    assert.same({ weights = { 1.0, 10.0 } }, wce:hparams())
    local focal = L.build_loss("focal", { gamma = 3.0 })
    -- by hand: mean((1 - p_t)^3 * CE)
    local lp = F.log_softmax(logits, 2):totable()
    local want = 0
    for i, y in ipairs(labels:totable()) do
      local logp = lp[i][y + 1]
      want = want + (1 - math.exp(logp)) ^ 3 * -logp
    end
    h.near(focal(logits, labels):item(), want / 3, 1e-6)
  end)

  it("reject unknown names, bad options and mismatched shapes", function()
    h.errors("unknown loss 'hinge' %(allowed: ce, focal, weighted_ce%)", L.build_loss, "hinge")
    h.errors("unknown option 'gama'", L.FocalLoss, { gama = 2 })
    h.errors("gamma must be >= 0", L.FocalLoss, { gamma = -1 })
    h.errors("weights must be a list", L.WeightedCrossEntropyLoss, {})
    h.errors("3 class weights for 2 classes", L.WeightedCrossEntropyLoss({ weights = { 1, 2, 3 } }),
      logits, labels)
    h.errors("labels must be %[3%] class ids", L.CrossEntropyLoss(), logits, h.long({ 0, 1 }))
    h.errors("logits must be %[B, C%]", L.CrossEntropyLoss(), graphids.zeros(3), labels)
  end)

  it("VGAETaskLoss raises with every part when the total is not finite", function()
    local loss = L.VGAETaskLoss({ num_ids = 3, k_neg = 0 })
    local n = 2
    local out = { cont = graphids.full({ n, 35 }, 0 / 0), canid_logits = graphids.zeros(n, 3),
      nbr_logits = graphids.zeros(n, 3), kl = graphids.tensor(0.0) }
    local batch = { x = graphids.zeros(n, 35), node_id = h.long({ 1, 2 }),
      edge_index = h.long({ { 0 }, { 1 } }) }
    h.errors("VGAETaskLoss: non%-finite loss: recon=%-?nan canid=1.09861 nbr=0.693147 kl=0", loss,
      out, batch)
    h.errors("num_ids must be a positive integer", L.VGAETaskLoss, {})
  end)
end)
