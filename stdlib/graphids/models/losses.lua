-- graphids.models.losses -- the task losses the models are trained with (the reference's
-- core/losses), one signature per family:
--   classification  loss(logits [B, C], labels [B] i64, graph) -> 0-d tensor
--   VGAE            loss(outputs, batch) -> total, components {recon, canid, nbr, kl}
--   local L = require "graphids.models.losses"
--   local ce = L.build_loss("focal", { gamma = 2 })                  -- or L.FocalLoss{gamma=2}
--   local loss = ce(logits, batch.y, batch)
-- The classification losses are thin nn.Modules over nn.functional (graph is accepted for the
-- shared signature and unused).  build_loss honours the configured type: the reference
-- silently trained every arm with plain CE (upstream §3.5), which is fixed here.
local graphids = require "graphids"
local F = require "graphids.nn.functional"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local function check_cls(name, logits, labels)
  if not U.is_tensor(logits) or logits.ndim ~= 2 then
    error(string.format("%s: logits must be [B, C], got %s", name,
      U.is_tensor(logits) and U.shape_str(logits) or type(logits)), 0)
  end
  if not U.is_tensor(labels) or labels.ndim ~= 1 or labels:numel() ~= logits:size(1) then
    error(string.format("%s: labels must be [%d] class ids, got %s", name, logits:size(1),
      U.is_tensor(labels) and U.shape_str(labels) or type(labels)), 0)
  end
end

local CE = class("CrossEntropyLoss", Module)
CE.class_path = "graphids.models.losses.CrossEntropyLoss"

function CE:__init(kw)
  Module.__init(self)
  U.options("CrossEntropyLoss", kw, {}, U.CTOR)
end

function CE.forward(_, logits, labels)
  check_cls("CrossEntropyLoss", logits, labels)
  return F.cross_entropy(logits, labels)
end

function CE.hparams()
  return {}
end
M.CrossEntropyLoss = CE

local WCE = class("WeightedCrossEntropyLoss", Module)
WCE.class_path = "graphids.models.losses.WeightedCrossEntropyLoss"

-- kw.weights: one weight per class (a Lua list); kept as the buffer `weights`.
function WCE:__init(kw)
  Module.__init(self)
  local o = U.options("WeightedCrossEntropyLoss", kw, { weights = U.NONE }, U.CTOR)
  if type(o.weights) ~= "table" or #o.weights < 1 then
    error("WeightedCrossEntropyLoss: weights must be a list of per-class weights", U.CTOR)
  end
  self.weight_list = o.weights
  self:register_buffer("weights", graphids.tensor(o.weights, { dtype = "f32" }))
end

function WCE:forward(logits, labels)
  check_cls("WeightedCrossEntropyLoss", logits, labels)
  if logits:size(2) ~= self.weights:numel() then
    error(string.format("WeightedCrossEntropyLoss: %d class weights for %d classes",
      self.weights:numel(), logits:size(2)), 0)
  end
  return F.cross_entropy(logits, labels, { weight = self.weights:to(logits.dtype) })
end

function WCE:hparams()
  return { weights = { table.unpack(self.weight_list) } }
end
M.WeightedCrossEntropyLoss = WCE

local Focal = class("FocalLoss", Module)
Focal.class_path = "graphids.models.losses.FocalLoss"

-- mean((1 - p_t)^gamma * CE) (the reference's, = nn.functional.focal_loss without alpha).
function Focal:__init(kw)
  Module.__init(self)
  local o = U.options("FocalLoss", kw, { gamma = 2.0 }, U.CTOR)
  if o.gamma < 0 then
    error("FocalLoss: gamma must be >= 0, got " .. tostring(o.gamma), U.CTOR)
  end
  self.gamma = o.gamma
end

function Focal:forward(logits, labels)
  check_cls("FocalLoss", logits, labels)
  return F.focal_loss(logits, labels, { gamma = self.gamma })
end

function Focal:hparams()
  return { gamma = self.gamma }
end
M.FocalLoss = Focal

local TYPES = { ce = CE, cross_entropy = CE, focal = Focal, weighted_ce = WCE }

-- A classification loss from a type name ("ce" | "focal" | "weighted_ce") and its kwargs.
function M.build_loss(kind, kw)
  local cls = TYPES[kind]
  if cls == nil then
    error(string.format("build_loss: unknown loss '%s' (allowed: ce, focal, weighted_ce)",
      tostring(kind)), 2)
  end
  return cls(kw)
end

-- --------------------------------------------------------------------------- VGAE
local VGAETaskLoss = class("VGAETaskLoss", Module)
VGAETaskLoss.class_path = "graphids.models.losses.VGAETaskLoss"

-- MSE_recon + canid_weight CE(canid_logits, node_id) + nbr_weight L_nbr + kl_weight KL.
-- kw: canid_weight=0.1, nbr_weight=0.05, kl_weight=0.01, k_neg=32, num_ids (required).
function VGAETaskLoss:__init(kw)
  Module.__init(self)
  local o = U.options("VGAETaskLoss", kw, { canid_weight = 0.1, nbr_weight = 0.05,
    kl_weight = 0.01, k_neg = 32, num_ids = U.NONE }, U.CTOR)
  if math.type(o.num_ids) ~= "integer" or o.num_ids < 1 then
    error("VGAETaskLoss: num_ids must be a positive integer, got " .. tostring(o.num_ids),
      U.CTOR)
  end
  if math.type(o.k_neg) ~= "integer" or o.k_neg < 0 then
    error("VGAETaskLoss: k_neg must be a non-negative integer, got " .. tostring(o.k_neg),
      U.CTOR)
  end
  self.canid_weight, self.nbr_weight, self.kl_weight = o.canid_weight, o.nbr_weight, o.kl_weight
  self.k_neg, self.num_ids = o.k_neg, o.num_ids
end

function VGAETaskLoss:hparams()
  return { canid_weight = self.canid_weight, nbr_weight = self.nbr_weight,
    kl_weight = self.kl_weight, k_neg = self.k_neg, num_ids = self.num_ids }
end

-- Reconstruction MSE on the masked entries only (GraphMAE); without a mask (or an empty one)
-- over every entry.  The count stays on the device (reading it would wait for a GPU between
-- the forward and the backward): an empty mask selects the full MSE with where, and the masked
-- sum is divided by at least 1 so the branch not taken has a finite gradient (0).
function M.masked_mse(cont, x, mask)
  if mask == nil then
    return F.mse_loss(cont, x)
  end
  local count = mask:sum()
  local se = (cont - x):square():masked_fill(mask:logical_not(), 0)
  return graphids.where(count:gt(0), se:sum() / count:clamp(1), F.mse_loss(cont, x))
end

-- Negative-sampled neighbour BCE (the reference's neighborhood_loss_negsampled): positives are
-- the logits at the vocabulary ids of each edge's target, negatives k_neg random ids per node
-- (neg_ids [N, k_neg], drawn by the caller) less the (node, id) pairs that are true neighbours.
-- -mean log sigmoid(pos) - mean log sigmoid(-neg); 0 for an empty side.
function M.neighbour_loss(logits, node_id, edge_index, num_ids, neg_ids)
  local src, dst = edge_index:select(1, 1), edge_index:select(1, 2)
  local dst_ids = node_id:index_select(1, dst)
  local N = logits:size(1)
  local flat = logits:reshape({ -1 })
  local pos_keys = src * num_ids + dst_ids
  local pos_loss
  if pos_keys:numel() > 0 then
    -- -log sigmoid(v) = softplus(-v)
    pos_loss = F.softplus(-flat:index_select(1, pos_keys)):mean()
  end
  local neg_loss
  if neg_ids ~= nil and neg_ids:numel() > 0 then
    local neg_keys = (graphids.arange(N):to(neg_ids.device):unsqueeze(2) * num_ids + neg_ids)
      :reshape({ -1 })
    local keep = neg_keys
    if pos_keys:numel() > 0 then
      -- a negative collides when its key is also a positive one: membership in a mask over
      -- every (node, id) key, a quarter of the logits' bytes (sorting both key sets through
      -- unique took half of this loss's time)
      local is_pos = graphids.zeros({ flat:numel() }, { dtype = "bool", device = flat.device })
      is_pos:scatter_(1, pos_keys, true)
      keep = neg_keys:masked_select(is_pos:index_select(1, neg_keys):logical_not())
    end
    if keep:numel() > 0 then
      neg_loss = F.softplus(flat:index_select(1, keep)):mean()
    end
  end
  local zero = graphids.zeros({}, { dtype = logits.dtype, device = logits.device })
  return (pos_loss or zero) + (neg_loss or zero)
end

-- outputs: the table VGAE:forward returns ({cont, canid_logits, nbr_logits, ids, z, kl, mask}).
-- ctx.neg_ids: the negative ids to use ([N, k_neg] i64); drawn from ctx.generator otherwise.
function VGAETaskLoss:forward(out, batch, ctx)
  ctx = ctx or {}
  local recon = M.masked_mse(out.cont, batch.x, out.mask)
  -- (out.ids: the ids of the heads, unknown ones as UNK; batch.node_id for other callers)
  local ids = out.ids or batch.node_id
  local canid = F.cross_entropy(out.canid_logits, ids)
  local neg_ids = ctx.neg_ids
  if neg_ids == nil and self.k_neg > 0 then
    neg_ids = graphids.randint(self.num_ids, { out.nbr_logits:size(1), self.k_neg },
      { generator = ctx.generator }):to(out.nbr_logits.device)
  end
  local nbr = M.neighbour_loss(out.nbr_logits, ids, batch.edge_index, self.num_ids,
    neg_ids)
  local kl = out.kl
  local total = recon + canid * self.canid_weight + nbr * self.nbr_weight + kl * self.kl_weight
  local t = total:item()
  if t ~= t or t == math.huge or t == -math.huge then
    error(string.format("VGAETaskLoss: non-finite loss: recon=%.6g canid=%.6g nbr=%.6g kl=%.6g",
      recon:item(), canid:item(), nbr:item(), kl:item()), 0)
  end
  return total, { recon = recon, canid = canid, nbr = nbr, kl = kl }
end
M.VGAETaskLoss = VGAETaskLoss

return M
