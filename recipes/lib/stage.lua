-- recipes/lib/stage.lua -- the shared defaults of every stage recipe: identity, run dir,
-- trainer, callbacks and the graph data module, from the top-level arguments.
--   local S = import("../lib/stage.lua")
--   return function(tla)
--     local a = S.checked(arguments(tla, S.args({loss = "focal"})))
--     return S.graph_stage(a, {stage = "gat", variant = a.loss, model = ...})
--   end
-- Run dir: <lake_root>/<dataset>/<stage>/<variant>/seed_<seed>.
local ARGS = import("args.lua")
local DATASETS = import("../presets/datasets.lua")

local S = {}

-- The common top-level arguments merged with a stage's own.
function S.args(extra)
  return merge(ARGS, extra)
end

-- The lake root without trailing slashes ("lake/" and "lake" are one lake); empty is an error.
function S.lake_root(a)
  local root = a.lake_root:gsub("(.)/+$", "%1")
  if root == "" then
    error("lake_root is empty: name the folder that holds the runs (default 'lake')", 0)
  end
  return root
end

-- The variant a run dir and the identity name: the stage's own (the loss, the method), plus the
-- model scale and the graph mode when they are not the defaults, so a large model or the
-- reference's graphs never train into (or are taken from) the default run's folder.
function S.variant(a, base)
  local v = base
  if a.scale ~= ARGS.scale then v = v .. "_" .. a.scale end
  if a.graphs ~= ARGS.graphs then v = v .. "_" .. a.graphs .. "_graphs" end
  return v
end

-- The variant of a stage downstream of the GAT (fusion states, fusion): base, plus the GAT's
-- loss when it is not the default, so pipelines with two losses keep their fusions apart.
function S.expert_variant(a, base)
  return a.loss ~= "focal" and (base .. "_" .. a.loss) or base
end

-- The dataset names one folder of the run dir (and of the cache and the raw captures): "../x"
-- or "a/b" would put the runs outside the lake.  Letters, digits, '_', '-' and '.', as
-- graphids.data.catalog requires of every dataset name.
function S.check_dataset(a)
  local d = a.dataset
  if d == "" or d == "." or d == ".." or not d:match("^[A-Za-z0-9_.%-]+$") then
    error(string.format("dataset must be one folder name (letters, digits, '_', '-' and '.'; not '.' " ..
      "or '..') (--tla dataset), got '%s'", d), 0)
  end
  return d
end

-- The values of the arguments that name a run dir's variant (S.variant, S.expert_variant): any
-- other text would name a folder of its own, outside the lake ("../../x") or shared with another
-- argument set (loss=ce_large is loss=ce scale=large's folder).  The loss is a stage's own
-- argument (gat, gat_kd, fusion_states, fusion): checked when the stage takes one.
local CHOICES = {
  { "scale", { "small", "large" } },
  { "graphs", { "portable", "reference" } },
  { "loss", { "focal", "ce", "weighted_ce" } },
}

function S.check_variant_args(a)
  for _, c in ipairs(CHOICES) do
    local name, allowed, v = c[1], c[2], a[c[1]]
    local ok = v == nil and name == "loss"
    for _, x in ipairs(allowed) do ok = ok or v == x end
    if not ok then
      error(string.format("%s must be one of %s (--tla %s), got %s", name, table.concat(allowed, ", "), name,
        type(v) == "string" and ("'" .. v .. "'") or tostring(v)), 0)
    end
  end
end

-- a, its run-dir arguments checked (S.check_variant_args) before a recipe builds anything from
-- them: the model preset of scale=huge would otherwise be the first to refuse it, in its own words.
--   local a = S.checked(arguments(tla, S.args({ loss = "focal" })))
function S.checked(a)
  S.check_variant_args(a)
  return a
end

-- base: the stage's variant without the scale and graph mode (S.variant adds them).
function S.run_dir(a, stage, base)
  -- (the seed also seeds everything: seed_everything's rule, named by the argument given)
  if a.seed < 0 then
    error("seed must be an integer >= 0 (--tla seed), got " .. a.seed, 0)
  end
  S.check_variant_args(a)
  local root = S.lake_root(a)
  -- (the root "/" ends in its slash: "/synthetic/...", not "//synthetic/...")
  return string.format("%s%s%s/%s/%s/seed_%d", root, root:sub(-1) == "/" and "" or "/", S.check_dataset(a),
    stage, S.variant(a, base), a.seed)
end

-- The dataset's training settings (presets/datasets.lua).
function S.settings(a)
  return merge(DATASETS.default, DATASETS[a.dataset])
end

-- How window graphs are built (TLA graphs; docs/recipes.md, "Portable graphs").  "portable": the
-- vocabulary is the ids of normal traffic, every CAN id keeps its own node (unknown ones as UNK),
-- and each capture is z-scored with the statistics of its own first tenth of windows, so an
-- unseen vehicle's traffic arrives on the train vehicles' scale.  "reference": the reference's
-- graphs (every train id in the vocabulary, unknown ids folded into one node, the train scaler).
local GRAPHS = {
  portable = { vocab_from = "benign", node_by_id = true, scaler = "per_file", calibration = 0.1 },
  reference = { vocab_from = "all", node_by_id = false, scaler = "train", calibration = 1.0 },
}

-- The id encoder's train-time UNK replacement of the supervised GAT models: with portable graphs
-- half the training graphs lose their ids, so the model also learns graphs of unseen ids.
function S.gat_id_encoder(a)
  return a.graphs == "portable" and { p_unk_graph = 0.5 } or {}
end

-- The supervised GAT stages' weight averaging (callbacks.ema; docs/trainer.md, "Weight
-- averaging"): the validation, the checkpoints and the fitted model use the moving average of
-- the weights over about the last 100 optimizer steps, which removed the seed-to-seed swings of
-- the GAT's test accuracy on hcrl_sa.
S.GAT_EMA = { decay = 0.99 }

-- The fusion states' per-capture calibration share (state_calibration): the portable graphs'
-- calibration share, 0 (off) for the reference's graphs.
function S.state_calibration(a)
  return a.graphs == "portable" and GRAPHS.portable.calibration or 0
end

local function graphs_mode(a)
  local g = GRAPHS[a.graphs]
  if g == nil then
    error("graphs must be 'portable' or 'reference', got '" .. tostring(a.graphs) .. "'", 0)
  end
  return g
end

local function data_args(a, extra)
  local d = merge({ dataset = a.dataset, lake_root = S.lake_root(a), seed = a.seed }, graphs_mode(a))
  if a.data_root ~= "" then d.data_root = a.data_root end
  return merge(d, extra)
end
S.data_args = data_args

-- The configuration keys every stage derives from the TLAs that name its run dir and identity;
-- `derived` in a rendered stage maps them to their TLA, and graphids.config refuses a --set that
-- changes one (the TLA changes the value, the run dir and the identity together).
local DERIVED = { ["data.init_args.dataset"] = "dataset", ["data.init_args.seed"] = "seed" }

-- spec: stage, variant, family key of the epochs table (default stage), model ({class_path,
-- init_args}), fusion (bool), data (extra GraphDataModule options, or a full data block for
-- fusion), distillation (model.distillation), ema (callbacks.ema: weight averaging, or nil),
-- monitor ({monitor, mode} of the checkpoint and early stopping: the model class's MONITOR,
-- default val_loss/min), derived (the key the variant is made from -> its TLA).
function S.stage(a, spec)
  local st = S.settings(a)
  local fusion = spec.fusion == true
  local monitor = spec.monitor or { monitor = "val_loss", mode = "min" }
  local run_dir = S.run_dir(a, spec.stage, spec.variant)
  local model = merge(spec.model, spec.distillation and { distillation = spec.distillation } or nil)
  return {
    identity = { dataset = a.dataset, stage = spec.stage, variant = S.variant(a, spec.variant),
      seed = a.seed, scale = a.scale },
    seed_everything = a.seed,
    trainer = {
      max_epochs = st.epochs[spec.epochs or spec.stage],
      gradient_clip_val = (not fusion) and 1.0 or nil,
      default_root_dir = run_dir,
      progress = "auto",
      log_every_n_steps = fusion and 10 or 50,
      device = a.device,
    },
    data = spec.data_block or {
      class_path = "graphids.data.GraphDataModule",
      init_args = data_args(a, merge({ batch_size = st.batch_size }, spec.data)),
    },
    model = model,
    callbacks = {
      checkpoint = monitor,
      early_stopping = merge(monitor, { patience = fusion and st.patience.fusion or st.patience.graph }),
      lr_monitor = not fusion,
      ema = spec.ema,
    },
    derived = merge(DERIVED, spec.derived),
  }
end

return S
