-- graphids.config.schema -- validation of a rendered configuration (DESIGN §5).
--   local schema = require "graphids.config.schema"
--   local cfg = schema.validate(rendered)      -- a normalised deep copy, or an error
--
-- Sections (every unknown key is an error naming its full path, with a suggestion):
--   identity        {dataset, stage, variant, seed, scale}: who the run is (run listings, tags)
--   seed_everything integer >= 0
--   trainer         graphids.trainer.Trainer options (max_epochs, max_time, gradient_clip_val,
--                   default_root_dir ("" = no run dir), progress, log_every_n_steps, device,
--                   enable_checkpointing, precision: "32" | "bf16-mixed" | "16-mixed", absent = "32",
--                   mixed ones only with a cuda device; accumulate_grad_batches, limit_train_batches,
--                   limit_val_batches, check_val_every_n_epoch, fast_dev_run: the Trainer's rules)
--   data            {class_path, init_args}: a registered data module (init_args checked by
--                   constructing it, which touches no file)
--   model           {class_path, init_args, distillation?}: init_args checked against the
--                   class's hyper-parameters (num_ids may be left out: it comes from the data)
--   callbacks       {checkpoint = {monitor, mode}, early_stopping = {monitor, mode, patience,
--                   min_delta}, lr_monitor = bool, ema = {decay, update_every_n_steps,
--                   update_starting_at_step} (absent = no weight averaging)}
-- Cross-field rules: checkpoint and early-stopping monitor/mode agree; the monitor is the model
-- class's MONITOR (the RL fusion policies val_acc/max, every other model val_loss/min; the
-- reference had every fusion model on val_acc, docs/recipes.md says why not here); the data module
-- fits the model family.
local U = require "graphids.nn._util"
local errors = require "graphids.errors"
local N = U.NONE

local M = {}

M.DATA_CLASSES = {
  ["graphids.data.GraphDataModule"] = { "graphids.data", "GraphDataModule" },
  ["graphids.orchestrate.fusion_data.FusionDataModule"] = { "graphids.orchestrate.fusion_data",
    "FusionDataModule" },
}

local SECTIONS = {
  [""] = { identity = {}, seed_everything = 42, trainer = {}, data = {}, model = {}, callbacks = {} },
  identity = { dataset = "", stage = "", variant = "", seed = 0, scale = "" },
  trainer = { max_epochs = 10, max_time = N, gradient_clip_val = N, default_root_dir = "",
    progress = "auto", log_every_n_steps = 50, device = "cpu", enable_checkpointing = true,
    -- absent by default, so configurations without it keep their digests
    precision = N,
    -- Lightning's loop options (graphids.trainer.loop_options), absent by default likewise
    accumulate_grad_batches = N, limit_train_batches = N, limit_val_batches = N,
    check_val_every_n_epoch = N, fast_dev_run = N },
  data = { class_path = "", init_args = {} },
  model = { class_path = "", init_args = {}, distillation = N },
  ["model.distillation"] = { teacher_ckpt = "", T = 4.0, alpha = 0.7, latent_weight = 1.0,
    recon_weight = 1.0 },
  -- ema absent by default, so configurations without it keep their digests
  callbacks = { checkpoint = {}, early_stopping = {}, lr_monitor = false, ema = N },
  ["callbacks.ema"] = { decay = 0.999, update_every_n_steps = 1, update_starting_at_step = 0 },
  ["callbacks.checkpoint"] = { monitor = "val_loss", mode = "min" },
  ["callbacks.early_stopping"] = { monitor = "val_loss", mode = "min", patience = 10, min_delta = 0.0 },
}

local function fail(msg)
  error("invalid configuration: " .. msg, 0)
end

-- The top-level arguments every recipe takes (recipes/lib/args.lua): named as such when given
-- as a configuration key (--set seed=1) or as an option (--seed 1).
M.COMMON_ARGS = { "dataset", "seed", "scale", "data_root", "lake_root", "graphs", "device" }

function M.top_level_hint(name)
  for _, a in ipairs(M.COMMON_ARGS) do
    if a == name then
      return string.format(" ('%s' is a top-level argument of the recipe: --tla %s=VALUE)", name, name)
    end
  end
  return nil
end

-- Integral floats (JSON numbers read back, `--set x=3.0`) become integers where an integer is
-- required; other values are left for the checks to name.
local function as_int(v)
  if math.type(v) == "float" and v == math.floor(v) and v >= math.mininteger and v <= math.maxinteger then
    return math.tointeger(v)
  end
  return v
end

-- v as the kind of number its default is: 2.0 for a float default given 2 (JSON and the
-- command line write a float without its point), the integer for an integer default given an
-- integral float.  The same setting then encodes the same (the record's comparison, the config
-- digest) however it was written.
local function as_default_kind(default, v)
  if math.type(default) == "integer" then return as_int(v) end
  if math.type(default) == "float" and math.type(v) == "integer" then return v + 0.0 end
  return v
end

-- v as a float (the kind of the options with no default that are amounts, not counts:
-- trainer.max_time, trainer.gradient_clip_val), so 1 and 1.0 are one setting.
local function as_float(v)
  return math.type(v) == "integer" and v + 0.0 or v
end

-- Integral floats as integers at any depth of v (in place; a JSON list keeps its mark): the
-- hyper-parameters whose default is a table (hidden_dims, id_encoder_kwargs, num_ids's "required")
-- have no number kind per item, so [64.0, 32] and [64, 32] encode alike.
local function ints_within(v)
  if type(v) ~= "table" then return as_int(v) end
  for k, x in pairs(v) do v[k] = ints_within(x) end
  return v
end

-- U.options with the section's full path in the message ("trainer: unknown option 'x' (did you
-- mean 'y'?)" becomes "unknown key 'trainer.x' (did you mean 'trainer.y'?)").
local function section(path, t, defaults)
  if t ~= nil and type(t) ~= "table" then
    fail(string.format("'%s' must be a table, got %s", path, type(t)))
  end
  -- a JSON list ([] included) is no table of keys: --set callbacks.ema=[] would turn it on
  if t ~= nil and require("graphids.json").is_array(t) then
    fail(string.format("'%s' must be a table of keys, got a list", path))
  end
  local ok, res = pcall(U.options, path, t, defaults, -1)
  if ok then
    -- each number as the kind its default is: one setting, one encoding however it was written
    for k, d in pairs(defaults) do res[k] = as_default_kind(d, res[k]) end
    return res
  end
  local msg = tostring(res)
  local pre = path == "" and "" or path .. "."
  local key, rest = msg:match(": unknown option '([^']*)'(.*)$")
  if key then
    rest = rest:gsub("did you mean '([^']*)'", function(s) return "did you mean '" .. pre .. s .. "'" end)
    fail(string.format("unknown key '%s%s'%s", pre, key, pre == "" and M.top_level_hint(key) or rest))
  end
  local k2, want, got = msg:match(": option '([^']*)' must be a (%a+), got (.*)$")
  if k2 then
    fail(string.format("'%s%s' must be a %s, got %s", pre, k2, want, got))
  end
  fail(msg)
end

-- A constructor's refusal ("GraphDataModule: batch_size must be ...") under the key path of the
-- option it names ('data.init_args.batch_size' must be ...); prefix alone when it names none.
local function fail_ctor(prefix, err, keys)
  local msg = errors.strip_own_position(err)
  local key, rest = msg:match("^[%w_.]+: option '([%w_]+)' (.*)$")
  if not key then key, rest = msg:match("^[%w_.]+: ([%w_]+) (.*)$") end
  if key and keys[key] ~= nil then
    fail(string.format("'%s.%s' %s", prefix, key, rest))
  end
  fail(string.format("'%s': %s", prefix, msg))
end

local function int_at_least(path, v, lo)
  if math.type(v) ~= "integer" or v < lo then
    fail(string.format("'%s' must be an integer >= %d, got %s", path, lo, U.describe(v)))
  end
end

local function one_of(path, v, allowed)
  for _, a in ipairs(allowed) do
    if v == a then return end
  end
  fail(string.format("'%s' must be one of %s, got %s", path, table.concat(allowed, ", "),
    type(v) == "string" and ("'" .. v .. "'") or U.describe(v)))
end


-- A class path is dotted names under graphids ("graphids.models.GATClassifier"); "graphids."
-- or "graphids..X" name nothing, and the lookups' suggestions need a last name.
local function check_class_path(key, v)
  if type(v) ~= "string" or v == "" then
    fail(string.format("'%s' must be a non-empty string, got %s", key, U.describe(v)))
  end
  if not v:match("^graphids%.") then
    fail(string.format("'%s' must name a graphids class, got '%s'", key, v))
  end
  if not v:match("^[%w_]+%.[%w_.]*[%w_]$") or v:find("..", 1, true) then
    fail(string.format("'%s' must be dotted names under graphids with no empty part, got '%s'",
      key, v))
  end
end

local function check_class_block(path, b)
  check_class_path(path .. ".class_path", b.class_path)
  if type(b.init_args) ~= "table" then
    fail(string.format("'%s.init_args' must be a table, got %s", path, U.describe(b.init_args)))
  end
end

local function suggest(name, list)
  local best, bestd = nil, math.huge
  for _, p in ipairs(list) do
    -- common suffix length as a cheap closeness measure for dotted class paths
    local a, b = (name:match("([^.]+)$") or name):lower(), p:match("([^.]+)$"):lower()
    local d = (a == b) and 0 or (a:find(b, 1, true) or b:find(a, 1, true)) and 1 or 2
    if d < bestd then best, bestd = p, d end
  end
  return best
end

-- The registered class paths that name models (those with a MONITOR), sorted.
local function model_paths(models)
  local out = {}
  for _, p in ipairs(models.class_paths()) do
    if models.resolve(p).MONITOR ~= nil then out[#out + 1] = p end
  end
  return out
end

-- The class paths among a model's hyper-parameters (id_encoder_class_path) name registered
-- classes: checked here, so the error names the key (the model would only say which path).
local function check_part_class_paths(init_args, cls)
  local models = require "graphids.models"
  for _, k in ipairs(U.sorted_keys(init_args)) do
    if type(k) == "string" and k:match("class_path$") and type((cls.DEFAULTS or {})[k]) == "string" then
      local key = "model.init_args." .. k
      check_class_path(key, init_args[k])
      local ok, err = pcall(models.resolve, init_args[k])
      if not ok then fail(string.format("'%s': %s", key, tostring(err):gsub("^.-resolve: ", ""))) end
    end
  end
end


-- The model.distillation keys each student family uses (graphids.models.distill): soft labels
-- at temperature T for a GAT, the latent and reconstruction matches for a VGAE.
local DISTILL_KEYS = {
  ["graphids.models.GATClassifier"] = { teacher_ckpt = true, alpha = true, T = true, with = "T and alpha" },
  ["graphids.models.VGAE"] = { teacher_ckpt = true, alpha = true, latent_weight = true, recon_weight = true,
    with = "alpha, latent_weight and recon_weight" },
}

-- Returns the model class.
local function validate_model(m)
  check_class_block("model", m)
  local models = require "graphids.models"
  local ok, cls = pcall(models.resolve, m.class_path, model_paths(models))
  if not ok then
    fail(string.format("'model.class_path': %s", tostring(cls):gsub("^.-resolve: ", "")))
  end
  if cls.MONITOR == nil then -- a loss, id encoder or distillation part: registered, not a model
    fail(string.format("'model.class_path': %s is not a model class (one of %s)", m.class_path,
      table.concat(model_paths(models), ", ")))
  end
  local defaults = {}
  for k, v in pairs(cls.DEFAULTS or {}) do
    -- num_ids comes from the data module when the config leaves it out
    defaults[k] = (k == "num_ids") and N or v
  end
  for k, v in pairs(defaults) do
    if type(v) ~= "table" and v ~= N and type(v) ~= "string" and type(v) ~= "boolean"
      and type(v) ~= "number" then
      defaults[k] = N
    elseif type(v) == "table" and v ~= N then
      defaults[k] = N -- lists/tables: any JSON value, the model checks them
    end
  end
  section("model.init_args", m.init_args, defaults)
  check_part_class_paths(m.init_args, cls)
  -- section() filled in the defaults; keep only what the config gave (the model fills the rest,
  -- and hparams() records them in the checkpoint).
  local given = {}
  for k, v in pairs(m.init_args) do
    local d = cls.DEFAULTS[k]
    given[k] = type(d) == "table" and ints_within(v) or as_default_kind(d, v)
  end
  m.init_args = given
  if m.distillation ~= nil then
    local d = section("model.distillation", m.distillation, SECTIONS["model.distillation"])
    if d.teacher_ckpt == "" then
      fail("'model.distillation.teacher_ckpt' must name the teacher's checkpoint")
    end
    if not (d.T > 0) then -- luacheck: ignore 581 (NaN must fail too)
      fail("'model.distillation.T' must be > 0, got " .. tostring(d.T))
    end
    if not (d.alpha >= 0 and d.alpha <= 1) then
      fail("'model.distillation.alpha' must be in [0, 1], got " .. tostring(d.alpha))
    end
    for _, k in ipairs({ "latent_weight", "recon_weight" }) do
      if not (d[k] >= 0) then -- luacheck: ignore 581 (NaN must fail too)
        fail(string.format("'model.distillation.%s' must be >= 0, got %s", k, tostring(d[k])))
      end
    end
    local keys = DISTILL_KEYS[m.class_path]
    if keys == nil then
      fail(string.format("'model.distillation' is only defined for GATClassifier and VGAE students, not %s",
        m.class_path))
    end
    -- a key of the other family's distillation would be dropped unseen; its default is left alone
    -- (every record holds the section filled in, and reads back)
    local kd_defaults = SECTIONS["model.distillation"]
    for _, k in ipairs(U.sorted_keys(kd_defaults)) do
      if not keys[k] and d[k] ~= kd_defaults[k] then
        fail(string.format("'model.distillation.%s' does not apply to a %s student (it distils with %s), " ..
          "got %s", k, m.class_path:match("[^.]+$"), keys.with, tostring(d[k])))
      end
    end
    m.distillation = d
  end
  return cls
end

-- The data module's options that only a Lua caller can give (a built cache, a log function): a
-- configuration is JSON data, and such a value would fail later with a raw Lua error.
local function check_lua_only(cls, init_args)
  for _, k in ipairs(U.sorted_keys(init_args)) do
    if (cls.LUA_ONLY or {})[k] then
      fail(string.format("'data.init_args.%s' cannot be configured: %s is an option for Lua callers " ..
        "(%s)", k, k, cls.LUA_ONLY[k]))
    end
  end
end

-- Integral floats become integers where the data module's default is an integer (as for the
-- model's hyper-parameters) or where it has none: its numeric options without a default are
-- counts (eval_batch_size, node_budget, edge_budget).  A float default (val_fraction,
-- calibration) makes an integer given for it the float.
local function data_ints(cls, init_args)
  local defaults = cls.DEFAULTS or {}
  for k, v in pairs(init_args) do
    init_args[k] = defaults[k] == N and as_int(v) or as_default_kind(defaults[k], v)
  end
end

local function validate_data(d)
  check_class_block("data", d)
  local entry = M.DATA_CLASSES[d.class_path]
  if entry == nil then
    local names = U.sorted_keys(M.DATA_CLASSES)
    fail(string.format("'data.class_path': unknown data module '%s' (did you mean '%s'?)", d.class_path,
      suggest(d.class_path, names)))
  end
  local cls = require(entry[1])[entry[2]]
  check_lua_only(cls, d.init_args)
  data_ints(cls, d.init_args)
  local ok, err = pcall(cls, d.init_args)
  if not ok then
    local msg = errors.strip_own_position(err)
    local key, rest = msg:match("unknown option '([^']*)'(.*)$")
    if key then
      rest = rest:gsub("did you mean '([^']*)'", "did you mean 'data.init_args.%1'")
      -- (the options only a Lua caller can give are no configuration keys)
      rest = rest:gsub("%(allowed: ([^)]*)%)", function(list)
        local keep = {}
        for name in list:gmatch("[^, ]+") do
          if not (cls.LUA_ONLY or {})[name] then keep[#keep + 1] = name end
        end
        return "(allowed: " .. table.concat(keep, ", ") .. ")"
      end)
      fail(string.format("unknown key 'data.init_args.%s'%s", key, rest))
    end
    fail_ctor("data.init_args", msg, cls.DEFAULTS or {})
  end
  local a = d.init_args
  -- (read as paths and names before the data module would check them: io.join named no key)
  for _, k in ipairs({ "data_root", "lake_root", "dataset" }) do
    if a[k] ~= nil and type(a[k]) ~= "string" then
      fail(string.format("'data.init_args.%s' must be a string, got %s", k, U.describe(a[k])))
    end
  end
  if d.class_path == "graphids.data.GraphDataModule" then
    local catalog = require "graphids.data.catalog"
    -- the catalog first, entry by entry ({"synthetic": 5} or a misspelt "frams" is named with
    -- its key, not met as a raw error or silently ignored)
    if type(a.catalog) == "table" then
      local problem = catalog.catalog_problem(a.catalog, "data.init_args.catalog")
      if problem then fail(problem) end
    elseif a.catalog ~= nil and type(a.catalog) ~= "string" then
      fail("'data.init_args.catalog' must be a table of datasets or the path of a Lua file returning one, " ..
        "got " .. U.describe(a.catalog))
    else
      local okl, lerr = pcall(catalog.dataset_catalog, { catalog = a.catalog })
      if not okl then
        local msg = errors.strip_own_position(lerr)
        fail(a.catalog ~= nil and ("'data.init_args.catalog': " .. msg) or msg)
      end
    end
    local dm, dataset = err, err.dataset
    local bad = catalog.name_problem(dataset)
    if bad then fail("'data.init_args.dataset': " .. bad) end
    -- A dataset the catalog does not list, or whose folder is not under the data root, is one a
    -- load serves from a complete cache alone (docs/data.md): refused only when there is none.
    local function unless_cached(key, msg)
      local ready, looked = require("graphids.data.cache").cache_ready(dataset, dm.opts)
      if not ready then
        fail(string.format("'%s': %s; nor is there a dataset cache of it to use instead (%s is not there)",
          key, msg, looked))
      end
    end
    local okc, cerr = pcall(catalog.dataset_info, dataset, { catalog = a.catalog })
    if not okc then
      local where = type(a.catalog) == "table" and "'data.init_args.catalog'" or
        tostring(catalog.catalog_path({ catalog = a.catalog }))
      unless_cached("data.init_args.dataset", string.format("%s (in the catalog %s)",
        errors.strip_own_position(cerr), where))
    else
      local root = catalog.data_root(a)
      if root and not cerr.simulated then
        local gio = require "graphids.io"
        local dir = gio.join(root, dataset)
        if not gio.is_dir(dir) then
          unless_cached("data.init_args.data_root", string.format("the dataset folder %s does not exist",
            dir))
        end
      end
    end
  end
end

local function validate_callbacks(c, model_cls)
  local ck = section("callbacks.checkpoint", c.checkpoint, SECTIONS["callbacks.checkpoint"])
  local es = section("callbacks.early_stopping", c.early_stopping, SECTIONS["callbacks.early_stopping"])
  one_of("callbacks.checkpoint.mode", ck.mode, { "min", "max" })
  one_of("callbacks.early_stopping.mode", es.mode, { "min", "max" })
  es.patience = as_int(es.patience)
  int_at_least("callbacks.early_stopping.patience", es.patience, 1)
  if not (es.min_delta >= 0) then -- luacheck: ignore 581 (NaN must fail too)
    fail("'callbacks.early_stopping.min_delta' must be >= 0, got " .. tostring(es.min_delta))
  end
  if ck.monitor ~= es.monitor or ck.mode ~= es.mode then
    fail(string.format("callbacks.checkpoint monitors %s/%s but callbacks.early_stopping monitors %s/%s; " ..
      "they must agree", ck.monitor, ck.mode, es.monitor, es.mode))
  end
  local want = model_cls.MONITOR
  if ck.monitor ~= want[1] or ck.mode ~= want[2] then
    fail(string.format("%s must monitor %s/%s, callbacks.checkpoint has %s/%s",
      model_cls.class_path, want[1], want[2], ck.monitor, ck.mode))
  end
  c.checkpoint, c.early_stopping = ck, es
  if c.ema ~= nil then
    local e = section("callbacks.ema", c.ema, SECTIONS["callbacks.ema"])
    e.update_every_n_steps = as_int(e.update_every_n_steps)
    e.update_starting_at_step = as_int(e.update_starting_at_step)
    -- the values are checked by constructing the callback: one set of rules, as for data modules
    local ok, err = pcall(require("graphids.callbacks.weight_averaging"), e)
    if not ok then
      fail_ctor("callbacks.ema", err, SECTIONS["callbacks.ema"])
    end
    c.ema = e
  end
end

-- The loop options checked by the Trainer's own rules (graphids.trainer.loop_options), named by
-- key; those given are kept normalised (an integral float where an integer is meant, as
-- elsewhere), the absent ones stay absent (configurations without them keep their digests).
local function validate_loop_options(t)
  local LO = require "graphids.trainer.loop_options"
  local ok, lo = pcall(LO.normalize, t)
  if not ok then fail_ctor("trainer", lo, SECTIONS.trainer) end
  for _, k in ipairs(LO.NAMES) do
    if t[k] ~= nil and k ~= "fast_dev_run" then t[k] = lo[k] end
  end
  t.fast_dev_run = as_int(t.fast_dev_run)
  if lo.fast_dev_run and t.default_root_dir ~= "" then
    fail("'trainer.fast_dev_run' writes no checkpoint, and a run dir's tests, resumes and the pipeline's " ..
      "decisions read them (set trainer.default_root_dir=\"\" for a smoke test)")
  end
  if t.limit_train_batches == 0 then
    fail("'trainer.limit_train_batches' = 0 trains nothing (a count >= 1, or a fraction in (0, 1])")
  end
end

-- The loop options against the model: a self-optimizing one accumulates nothing, and the val
-- metric the callbacks monitor needs an epoch that validates.
local function check_loop_against(cfg, model_cls)
  local t, monitor = cfg.trainer, cfg.callbacks.checkpoint.monitor
  -- the options as the Trainer resolves them (validate_loop_options checked them): fast_dev_run
  -- = 0 is off, though 0 is true in Lua
  local lo = require("graphids.trainer.loop_options").normalize(t)
  if lo.accumulate_grad_batches > 1 and model_cls.automatic_optimization == false then
    fail(string.format("'trainer.accumulate_grad_batches' = %d needs automatic optimization; %s optimizes " ..
      "itself and steps on every batch", lo.accumulate_grad_batches, cfg.model.class_path))
  end
  if lo.fast_dev_run or not monitor:match("^val") then return end
  local why = lo.limit_val_batches == 0 and "'trainer.limit_val_batches' = 0 runs no validation" or
    (lo.check_val_every_n_epoch > t.max_epochs and string.format("'trainer.check_val_every_n_epoch' " ..
      "= %d > max_epochs = %d validates no epoch", lo.check_val_every_n_epoch, t.max_epochs))
  if why then
    fail(string.format("%s, and callbacks.checkpoint monitors %s: the run would have no best checkpoint", why,
      monitor))
  end
end

local function validate_trainer(t)
  t.max_epochs = as_int(t.max_epochs)
  t.log_every_n_steps = as_int(t.log_every_n_steps)
  int_at_least("trainer.max_epochs", t.max_epochs, 1) -- the models' schedules span max_epochs
  int_at_least("trainer.log_every_n_steps", t.log_every_n_steps, 1)
  -- a run dir's tests, resumes and the pipeline's decisions read its checkpoints: a fit that wrote
  -- none would still mark the run trained (and a fresh fit removes the previous checkpoints)
  if t.enable_checkpointing == false and t.default_root_dir ~= "" then
    fail("'trainer.enable_checkpointing' = false needs no run dir: a run dir's tests, resumes and the " ..
      "pipeline's decisions read its checkpoints (set trainer.default_root_dir=\"\" to train without " ..
      "writing anything)")
  end
  if t.max_time ~= nil and not (type(t.max_time) == "number" and t.max_time > 0) then
    fail("'trainer.max_time' must be a number of seconds > 0, got " .. U.describe(t.max_time))
  end
  if t.gradient_clip_val ~= nil and not (type(t.gradient_clip_val) == "number"
    and t.gradient_clip_val > 0) then
    fail("'trainer.gradient_clip_val' must be a number > 0 (or absent), got " ..
      U.describe(t.gradient_clip_val))
  end
  t.max_time, t.gradient_clip_val = as_float(t.max_time), as_float(t.gradient_clip_val)
  one_of("trainer.progress", t.progress, { "auto", "bar", "lines", "off" })
  if not require("graphids.trainer.device").valid(t.device) then
    fail("'trainer.device' must be 'cpu' or 'cuda[:N]', got '" .. t.device .. "'")
  end
  if t.precision ~= nil then
    -- --set trainer.precision=32 decodes as the JSON number; it means the precision "32"
    if t.precision == 32 then t.precision = "32" end
    local amp = require "graphids.amp"
    if type(t.precision) ~= "string" then
      fail(string.format("'trainer.precision' must be one of %s, got %s", table.concat(amp.PRECISIONS, ", "),
        U.describe(t.precision)))
    end
    local _, err = amp.precision_autocast(t.precision, t.device)
    if err then fail("'trainer.precision' " .. err) end
  end
  validate_loop_options(t)
end

-- Drops json.null values at any depth (an explicit null in a --set means "unset"); a null in a
-- list is an error naming it.
local function strip_null(v)
  local ok, res = pcall(require("graphids.config.recipe").drop_null, v, "")
  if not ok then fail(tostring(res)) end
  return res
end

-- JSON has no infinity or NaN: such a number (--set trainer.max_time=1e999) would pass the
-- range checks and fail when resolved.json is written, so it is refused here, with its key.
-- (and no string holds a NUL byte: a path with one would be cut there by the system, or refused
-- deep inside the runtime, far from the key that holds it)
local function check_finite(v, path)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    fail(string.format("'%s' must be a finite number, got %s", path, v ~= v and "nan" or tostring(v)))
  end
  if type(v) == "string" and v:find("\0", 1, true) then
    local at = v:find("\0", 1, true)
    fail(string.format("'%s' holds a NUL byte at %d (%q before it): no path or name can", path, at,
      v:sub(1, at - 1)))
  end
  if type(v) == "table" then
    for k, x in pairs(v) do
      check_finite(x, path == "" and tostring(k) or path .. "." .. tostring(k))
    end
  end
end

-- A validated, normalised deep copy of rendered (defaults filled in for the sections above).
function M.validate(rendered)
  if type(rendered) ~= "table" then
    fail("the configuration must be a table, got " .. type(rendered))
  end
  local plain = strip_null(rendered)
  check_finite(plain, "")
  local cfg = section("", plain, SECTIONS[""])
  cfg.seed_everything = as_int(cfg.seed_everything)
  int_at_least("seed_everything", cfg.seed_everything, 0)
  cfg.identity = section("identity", cfg.identity, SECTIONS.identity)
  cfg.identity.seed = as_int(cfg.identity.seed)
  cfg.trainer = section("trainer", cfg.trainer, SECTIONS.trainer)
  validate_trainer(cfg.trainer)
  cfg.data = section("data", cfg.data, SECTIONS.data)
  cfg.model = section("model", cfg.model, SECTIONS.model)
  local model_cls = validate_model(cfg.model)
  validate_data(cfg.data)
  local fusion = cfg.model.class_path:find(".models.fusion", 1, true) ~= nil
  local fusion_data = cfg.data.class_path:find("fusion", 1, true) ~= nil
  if fusion ~= fusion_data then
    fail(string.format("model %s needs %s data module, data.class_path is %s", cfg.model.class_path,
      fusion and "the fusion" or "a graph", cfg.data.class_path))
  end
  cfg.callbacks = section("callbacks", cfg.callbacks, SECTIONS.callbacks)
  validate_callbacks(cfg.callbacks, model_cls)
  check_loop_against(cfg, model_cls)
  return cfg
end

return M
