-- graphids.orchestrate.instantiate -- a ResolvedConfig's objects: data module, model, trainer.
--   local inst = require "graphids.orchestrate.instantiate"
--   local run = inst.build_run(resolved)       -- {trainer, model, datamodule, callbacks}
--   local m = inst.load_model(path, {vocab_digest = d})   -- a model rebuilt from a checkpoint
-- The data module is set up first: the model's num_ids comes from its vocabulary (a num_ids in
-- the config that differs is an error).  Unknown constructor arguments raise (they are never
-- silently dropped, unlike the reference's signature filtering).
local graphids = require "graphids"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local models = require "graphids.models"
local schema = require "graphids.config.schema"
local config = require "graphids.config"
local errors = require "graphids.errors"
local Trainer = require("graphids.trainer").Trainer

local M = {}

-- The vocabulary digest of a set-up data module (nil for fusion states).
function M.vocab_digest(dm)
  local c = rawget(dm, "cache")
  return type(c) == "table" and type(c.metadata) == "table" and c.metadata.vocab_digest or nil
end

-- A model rebuilt from a checkpoint (class path + hyper-parameters + weights), after checking
-- it with ckpt.check_compat against opts.vocab_digest (one the checkpoint does not record is a
-- mismatch).  What the KD teacher and the fusion experts are made from.  opts.what names the
-- checkpoint in messages, opts.use says what it is needed for when it is missing (default
-- "train that stage first").
function M.load_model(path, opts)
  opts = opts or {}
  if not gio.exists(path) then
    error(string.format("%scheckpoint %s does not exist (%s)",
      opts.what and (opts.what .. ": ") or "", path, opts.use or "train that stage first"), 0)
  end
  local c = ckpt.load(path)
  if c.class_path == nil then
    error(string.format("checkpoint %s names no class_path; cannot rebuild its model", path), 0)
  end
  local prefix = opts.what and (opts.what .. ": ") or ""
  if opts.class_path and c.class_path ~= opts.class_path then
    error(string.format("%scheckpoint %s holds a %s, expected a %s", prefix, path, c.class_path,
      opts.class_path), 0)
  end
  local hp = ckpt.plain(c.hyper_parameters or {})
  hp.vocab_digest = nil -- (a record of the data, not a constructor argument)
  local m = models.instantiate(c.class_path, hp)
  -- (a distilled student's checkpoint holds its distillation's loss state too)
  local state = require("graphids.models.distill").plain_state(c.model)
  -- the guard every checkpoint load uses: the vocabulary digest asked for (one the checkpoint
  -- does not record is a mismatch too) and every parameter's shape, listed in one error
  local view = setmetatable({ model = state }, { __index = c })
  local ok, err = pcall(ckpt.check_compat, view, m, { vocab_digest = opts.vocab_digest })
  if not ok then
    error(prefix .. tostring(err), 0)
  end
  m:load_state_dict(state)
  m:eval()
  return m, c
end

local function data_module(d)
  local entry = schema.DATA_CLASSES[d.class_path]
  local cls = require(entry[1])[entry[2]]
  local dm = cls(d.init_args)
  -- (a cache built from other captures than the catalog's now is rebuilt by the load itself)
  dm:setup()
  return dm
end

-- The distillation teacher of model block m for the student, loaded from its checkpoint, or an
-- AbsentTeacher when teacher_use is false and the student builds without it (the command runs
-- no distillation loss: its checkpoint holds the student's whole state).  teacher_use otherwise
-- says why the command loads it, for the message when its checkpoint is missing.
local function teacher_of(m, dm, model, teacher_use)
  local distill = require "graphids.models.distill"
  local kd = m.distillation
  if teacher_use == false and distill.builds_without_teacher(m.class_path) then
    return distill.AbsentTeacher(m.class_path, kd.teacher_ckpt, "this command runs no distillation loss")
  end
  local use = teacher_use
  if teacher_use == false then
    use = "a " .. m.class_path .. " student is built with its teacher, whose latent width sizes the " ..
      "projection in the student's checkpoint, though this command does not run it"
  end
  local teacher, tc = M.load_model(kd.teacher_ckpt, { vocab_digest = M.vocab_digest(dm),
    class_path = m.class_path, what = "distillation teacher",
    use = use or "the student trains against it: train the teacher's stage first" })
  -- a teacher fitted on another seed's split has seen the student's validation graphs: the
  -- student's validation (its checkpoint choice, early stopping) would flatter it
  local tseed, sseed = type(tc.loader) == "table" and tc.loader.seed, dm.opts and dm.opts.seed
  if math.type(tseed) == "integer" and math.type(sseed) == "integer" and tseed ~= sseed then
    io.stderr:write(string.format("graphids: warning: distillation teacher %s was trained on seed %d's " ..
      "train/val split, the student uses seed %d's: the student's validation graphs were among the " ..
      "teacher's training graphs\n", kd.teacher_ckpt, tseed, sseed))
  end
  -- soft labels over other classes would fail only in the first step, after the commit
  local tk, sk = teacher.hp and teacher.hp.num_classes, model.hp and model.hp.num_classes
  if tk ~= nil and sk ~= nil and tk ~= sk then
    error(string.format("distillation teacher %s gives %d classes, the student (model.init_args." ..
      "num_classes) %d", kd.teacher_ckpt, tk, sk), 0)
  end
  return teacher
end

local function model_of(v, dm, teacher_use)
  local m = v.model
  local hp = config.thaw(m.init_args)
  local cls = models.resolve(m.class_path)
  if cls.DEFAULTS and cls.DEFAULTS.num_ids ~= nil then
    if dm.num_ids == nil then
      error(string.format("model %s needs num_ids, and data module %s has no vocabulary", m.class_path,
        v.data.class_path), 0)
    end
    if hp.num_ids ~= nil and hp.num_ids ~= dm.num_ids then
      error(string.format("model.init_args.num_ids is %d but the dataset's vocabulary has %d ids", hp.num_ids,
        dm.num_ids), 0)
    end
    hp.num_ids = dm.num_ids
  end
  -- the graphs' widths, checked here: a mismatch would fail only in the first forward, after the
  -- fit committed (removing a finished run's results)
  -- (edge_dim only where the convolution reads edge features: a GAT layer without them ignores it)
  local reads_edges = hp.conv_type == nil or require("graphids.models._conv").uses_edge_attr(hp.conv_type)
  for _, w in ipairs({ { "in_channels", "node features" }, { "edge_dim", "edge features" } }) do
    local k = w[1]
    if (k ~= "edge_dim" or reads_edges) and math.type(hp[k]) == "integer" and math.type(dm[k]) == "integer"
      and hp[k] ~= dm[k] then
      error(string.format("model.init_args.%s is %d but the dataset's graphs have %d %s", k, hp[k],
        dm[k], w[2]), 0)
    end
  end
  -- a classifier needs a class for every label of the data (checked here for the same reason)
  if math.type(hp.num_classes) == "integer" and math.type(dm.num_classes) == "integer"
    and hp.num_classes < dm.num_classes then
    error(string.format("model.init_args.num_classes is %d but the dataset's labels need %d classes",
      hp.num_classes, dm.num_classes), 0)
  end
  local model = cls(hp)
  -- The reference silently trained every GAT arm with plain CE: check that the loss named in
  -- the configuration is the one the model trains.
  if hp.loss_fn ~= nil and model.hp and model.hp.loss_fn ~= hp.loss_fn then
    error(string.format("model built with loss '%s' but the configuration names '%s'",
      tostring(model.hp.loss_fn),
      hp.loss_fn), 0)
  end
  local kd = m.distillation
  if kd ~= nil then
    local teacher = teacher_of(m, dm, model, teacher_use)
    local opts = { alpha = kd.alpha }
    if m.class_path == "graphids.models.GATClassifier" then
      opts.T = kd.T
    else
      opts.latent_weight, opts.recon_weight = kd.latent_weight, kd.recon_weight
    end
    require("graphids.models.distill").attach(model, teacher, opts)
  end
  return model
end

local function callbacks_of(v, run_dir)
  local c = v.callbacks
  local list = {
    cb.EarlyStopping { monitor = c.early_stopping.monitor, mode = c.early_stopping.mode,
      patience = c.early_stopping.patience, min_delta = c.early_stopping.min_delta },
  }
  if c.lr_monitor then
    list[#list + 1] = cb.LearningRateMonitor()
  end
  if c.ema ~= nil then
    list[#list + 1] = cb.EMAWeightAveraging { decay = c.ema.decay,
      update_every_n_steps = c.ema.update_every_n_steps,
      update_starting_at_step = c.ema.update_starting_at_step }
  end
  -- Without a run dir there is no checkpoint callback at all: nothing may be written.
  if run_dir ~= nil and v.trainer.enable_checkpointing then
    -- (overwrite: the stage's commit removes a previous run's checkpoints when the fit starts)
    list[#list + 1] = cb.ModelCheckpoint { monitor = c.checkpoint.monitor, mode = c.checkpoint.mode,
      overwrite = true }
  end
  return list
end

-- Checks the model block's hyper-parameter values (enums, ranges: what the schema leaves to the
-- model) by building the model once with a stand-in vocabulary size, before any data is read:
-- a bad loss name fails here, not after the dataset cache was built.  The global RNG is put
-- back, so the check leaves the run's initialisation as it was.
-- A model constructor's refusal as a configuration error, as the schema's are: "invalid
-- configuration:", then the key it is about when the message names one of the init args
-- ("hyper-parameter 'hidden'", "option 'lr'"), else model.init_args, then the message.
local function model_error(err, hp)
  local msg = errors.strip_own_position(err)
  if msg:find("^invalid configuration: ") then return msg end
  local name = msg:match("hyper%-parameter '([%w_]+)'") or msg:match("option '([%w_]+)'")
  local key = (name ~= nil and hp[name] ~= nil) and ("model.init_args." .. name) or "model.init_args"
  return string.format("invalid configuration: '%s': %s", key, msg)
end

function M.check_model(validated)
  local m = validated.model
  local cls = models.resolve(m.class_path)
  local hp = config.thaw(m.init_args)
  if cls.DEFAULTS and cls.DEFAULTS.num_ids ~= nil and hp.num_ids == nil then
    hp.num_ids = 2 -- the data module's count comes at build
  end
  local state = graphids.get_rng_state()
  -- the optimizer too (model.init_args.lr, weight_decay): built at fit time, it refused a bad
  -- value by the optimizer's name only
  local ok, err = pcall(function()
    local model = cls(hp)
    if type(model.configure_optimizers) == "function" then -- (as Trainer:fit calls it)
      model:configure_optimizers({ max_epochs = validated.trainer.max_epochs })
    end
  end)
  graphids.set_rng_state(state)
  if not ok then error(model_error(err, hp), 0) end
end

-- A metric monitored on validation needs validation graphs: without them the fit would fail at
-- its first epoch's end, after it committed (removing a finished run's results).
local function check_monitors(v, dm)
  local c = v.callbacks
  -- (the graph data module's validation graphs, or the fusion states' val split)
  local val = (dm.cache and dm.cache.val_index) or (dm.splits and dm.splits.val and dm.splits.val.labels)
  if val == nil or val:numel() > 0 then return end
  for _, m in ipairs({ { "callbacks.checkpoint.monitor", c.checkpoint.monitor },
    { "callbacks.early_stopping.monitor", c.early_stopping.monitor } }) do
    if type(m[2]) == "string" and m[2]:match("^val") then
      error(string.format("%s is '%s', but the data module has no validation %s", m[1], m[2],
        dm.cache and string.format("graphs (data.init_args.val_fraction = %s)",
          tostring(v.data.init_args.val_fraction)) or
        string.format("states (%s/val.safetensors has no row)", tostring(v.data.init_args.states_dir))), 0)
    end
  end
end

-- GPU state is the caller's (stage.build resets it first).  Returns {trainer, model,
-- datamodule}.  opts.teacher_use: false when the command runs no distillation loss (test, an
-- analysis of embeddings or attention): a distilled student that builds without its teacher
-- is built so, and one that does not says why it loads it; a string: why the command loads the
-- teacher, for the message when its checkpoint is missing (default: the fit's reason).
function M.build_run(resolved, opts)
  local v = resolved.validated
  graphids.manual_seed(v.seed_everything)
  local dm = data_module(config.thaw(v.data))
  local model = model_of(v, dm, (opts or {}).teacher_use)
  check_monitors(v, dm)
  local t = v.trainer
  local trainer = Trainer {
    max_epochs = t.max_epochs, max_time = t.max_time, gradient_clip_val = t.gradient_clip_val,
    default_root_dir = resolved.run_dir, seed = v.seed_everything, device = t.device,
    progress = t.progress, log_every_n_steps = t.log_every_n_steps, precision = t.precision,
    accumulate_grad_batches = t.accumulate_grad_batches, limit_train_batches = t.limit_train_batches,
    limit_val_batches = t.limit_val_batches, check_val_every_n_epoch = t.check_val_every_n_epoch,
    fast_dev_run = t.fast_dev_run,
    enable_checkpointing = resolved.run_dir ~= nil and t.enable_checkpointing,
    config_digest = resolved.config_digest,
    callbacks = callbacks_of(v, resolved.run_dir),
  }
  return { trainer = trainer, model = model, datamodule = dm }
end

return M
