-- graphids.analysis.policy -- what a fusion policy (DQN or bandit) chose: the weight alpha it gave
-- the GAT's probability against the VGAE's anomaly score, window by window (the reference's
-- fusion-policy analysis).
--   local p = analysis.fusion_policy(fusion_model, dm:eval_loader("val"))
--   p.alphas, p.labels, p.counts      --> [N], [N], [21] (how often each action was chosen)
--   p.mean_alpha.benign, p.mean_alpha.attack
local graphids = require "graphids"
local FC = require "graphids.models.fusion.common"
local A = require "graphids.analysis._common"

local M = {}

-- Over every batch of loader (states [B, 15], labels [B]), the policy's greedy choice: {alphas
-- [N] f32, labels [N] long, scores [N] (the fused score), anomaly [N] and gat_prob [N] (the two
-- experts' scores it weighed), counts [21] long (windows per action, action a = alpha a / 20),
-- mean_alpha = {all, benign, attack} (nil for a class without windows), accuracy (of the fused
-- decisions)}, all on the CPU.  The model runs in eval mode without grad.
function M.fusion_policy(model, loader)
  A.check_loader("analysis.fusion_policy", loader)
  if type(model.test_step) ~= "function" then
    error("analysis.fusion_policy: the model has no test_step (a fusion model was expected)", 2)
  end
  local parts = { alphas = {}, labels = {}, scores = {}, anomaly = {}, gat_prob = {} }
  local ok, err = pcall(A.in_eval, model, function()
    local i = 0
    for batch in loader:iter(0) do
      i = i + 1
      FC.check_states("analysis.fusion_policy", batch.states, batch.labels)
      local r = model:test_step(batch)
      if not graphids.is_tensor(r.alphas) then
        error(string.format("analysis.fusion_policy: %s chooses no alpha per window (only the DQN " ..
          "and bandit policies do)", model.class_path or "the model"), 0)
      end
      local anomaly, gat_prob = FC.scores(FC.normalize(batch.states))
      for k, v in pairs({ alphas = r.alphas, labels = batch.labels, scores = r.scores,
        anomaly = anomaly, gat_prob = gat_prob }) do
        table.insert(parts[k], v:detach():to("cpu"))
      end
    end
  end)
  if not ok then error(err, 2) end
  if #parts.alphas == 0 then error("analysis.fusion_policy: the loader gave no batches", 2) end
  local out = {}
  for k, list in pairs(parts) do out[k] = graphids.cat(list, 1) end
  out.alphas = out.alphas:to("f32")
  out.labels = out.labels:long()
  local actions = (out.alphas * (FC.NUM_ACTIONS - 1)):round():long()
  out.counts = actions:bincount({ minlength = FC.NUM_ACTIONS })
  local function mean_where(mask)
    local n = mask:sum():item()
    if n == 0 then return nil end
    return (out.alphas:double() * mask:double()):sum():item() / n
  end
  local attack = out.labels:ne(0)
  out.mean_alpha = { all = out.alphas:double():mean():item(), benign = mean_where(attack:logical_not()),
    attack = mean_where(attack) }
  out.accuracy = FC.decide(out.scores):eq(out.labels):double():mean():item()
  return out
end

return M
