-- graphids.models._steps -- what the step API of every graph model shares: the step context,
-- batch checks, accuracy, logged loss parts and the Adam + cosine optimizer.
--   S.enter_step(model, ctx)           -- ctx.generator drives this step's random draws
--   local acc = S.accuracy(logits, y)     -- a 0-d tensor: logged values stay on the device
--   Model.configure_optimizers = S.adam_cosine  -- Adam(hp.lr, hp.weight_decay) + cosine
-- ctx (the trainer's): generator (graphids.Generator or nil for the default stream), device,
-- epoch.  Every field is optional.
local graphids = require "graphids"
local optim = require "graphids.optim"
local G = require "graphids.nn.graph"
local U = require "graphids.nn._util"

local S = {}

local CTX_KEYS = { generator = U.NONE, device = U.NONE, epoch = U.NONE, neg_ids = U.NONE,
  mask = U.NONE, perm = U.NONE, eps = U.NONE }

-- Checks ctx and sets the generator on the model and its id encoder (they draw UNK drops,
-- dropout masks, feature masks, negative ids and permutations from it).
function S.enter_step(model, ctx)
  local o = U.options("step context", ctx, CTX_KEYS, 2)
  rawset(model, "generator", o.generator)
  local ie = rawget(model, "input_encoder")
  if ie then
    ie.id_encoder.generator = o.generator
  end
  return o
end

local REQUIRED = { "x", "edge_index", "node_id", "batch", "num_graphs" }

-- batch must carry the fields the models read (graphids.data.Batch or a table with them).
function S.check_batch(name, batch, needs_edge_attr)
  if type(batch) ~= "table" then
    error(string.format("%s: batch must be a graphids.data.Batch, got %s", name, type(batch)), 0)
  end
  for _, k in ipairs(REQUIRED) do
    if batch[k] == nil then
      error(string.format("%s: batch has no field '%s'", name, k), 0)
    end
  end
  if needs_edge_attr and batch.edge_attr == nil then
    error(string.format("%s: batch has no edge_attr, which this conv_type reads", name), 0)
  end
end

-- Logged values are 0-d tensors on the step's device, not Lua numbers: reading one waits for
-- the device, and a read between the forward and the backward would leave the device idle
-- while the host queues the backward.  The trainer reads them after the backward
-- (docs/trainer.md); anyone else calls :item().

-- Share of predictions equal to their label, a 0-d f64 tensor (count / n in f64, the same
-- number as the division on the host); 0 for no labels.
function S.hit_rate(preds, labels)
  local n = labels:numel()
  if n == 0 then
    return graphids.zeros({}, { dtype = "f64", device = labels.device })
  end
  return preds:eq(labels):sum():to("f64"):div(n)
end

-- Share of rows whose argmax equals the label (S.hit_rate).
function S.accuracy(logits, y)
  return S.hit_rate(logits:argmax(2), y)
end

-- parts (name -> 0-d tensor or number) logged as prefix .. name, in sorted order.
function S.add_parts(logs, prefix, parts)
  if type(parts) ~= "table" then
    return
  end
  for _, k in ipairs(U.sorted_keys(parts)) do
    local v = parts[k]
    logs[prefix .. k] = U.is_tensor(v) and v:detach() or v
  end
end

-- configure_optimizers of the graph models (GAT, VGAE, DGI): Adam(hp.lr, hp.weight_decay) over
-- model:parameters() (a loss registered as the child loss_fn included, so a KD projection
-- trains with the student) and CosineAnnealingLR(T_max = max_epochs) when opts.max_epochs is
-- given (stepped once per epoch).
function S.adam_cosine(model, opts)
  -- (the trainer passes estimated_stepping_batches too: a per-epoch cosine has no use for it)
  local o = U.options("configure_optimizers", opts, { max_epochs = U.NONE,
    estimated_stepping_batches = U.NONE }, 2)
  local opt = optim.Adam(model:parameters(), { lr = model.hp.lr,
    weight_decay = model.hp.weight_decay })
  local sched
  if o.max_epochs ~= nil then
    -- (a fit of 0 epochs trains nothing; its schedule still needs a period >= 1)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, math.max(o.max_epochs, 1))
  end
  return opt, sched
end

-- test_step (and predict_step) of the anomaly detectors (VGAE, DGI): {scores = per-graph
-- model:anomaly_scores(batch), labels = batch.y}, no threshold (the evaluator fits one on
-- validation).
-- An iterator over batches given as a list or as an iterator function (calibration inputs).
function S.each_batch(batches)
  if type(batches) == "function" then
    return batches
  end
  local i = 0
  return function()
    i = i + 1
    return batches[i]
  end
end

function S.anomaly_test_step(model, batch, ctx)
  S.enter_step(model, ctx)
  return graphids.no_grad(function()
    return { scores = model:anomaly_scores(batch), labels = batch.y }
  end)
end

-- Fusion feature rows [B, #head + 4 + #tail] of the anomaly detectors: the head columns, then
-- per graph the mean of z's per-node mean and of its per-node std, the max of its per-node max
-- and the min of its per-node min, then the tail columns (each head/tail entry [B]).
function S.feature_rows(head, z, batch, tail)
  local b, n = batch.batch, batch.num_graphs
  local cols = {}
  for _, c in ipairs(head) do
    cols[#cols + 1] = c
  end
  cols[#cols + 1] = G.scatter(z:mean(2), b, n, "mean")
  -- (one latent dimension has no spread: 0, where the unbiased std would be NaN)
  local spread = z:size(2) > 1 and z:std(2) or graphids.zeros({ z:size(1) }, { dtype = z.dtype,
    device = z.device })
  cols[#cols + 1] = G.scatter(spread, b, n, "mean")
  cols[#cols + 1] = G.scatter(z:amax(2), b, n, "max")
  cols[#cols + 1] = G.scatter(z:amin(2), b, n, "min")
  for _, c in ipairs(tail) do
    cols[#cols + 1] = c
  end
  return graphids.stack(cols, 2)
end

-- A 0-d tensor holding v, like t.
function S.scalar(v, like)
  return graphids.full({}, v, { dtype = like.dtype, device = like.device })
end

return S
