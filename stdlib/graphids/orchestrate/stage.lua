-- graphids.orchestrate.stage -- the three stage verbs between a ResolvedConfig and a running
-- trainer (DESIGN §5, the reference's orchestrate/stage.py).
--   local stage = require "graphids.orchestrate.stage"
--   local run = stage.build(resolved)                 -- GPU reset, then data module, model, trainer
--                                                     -- (a failure: a stage_failed event, phase build)
--   stage.train(run, resolved, {resume_from = last})  -- compat check, tracking run, fit, sidecars, marker
--   local metrics = stage.evaluate(run, resolved)     -- compat check, test, sidecars, metrics, marker, row
-- With resolved.run_dir == nil nothing touches the filesystem: no checkpoint, marker, sidecar,
-- trace or tracking row, and evaluate tests the weights in memory.
-- Markers are written only after their phase succeeded, and after its files: a marker means
-- "everything of this phase is on disk".
local graphids = require "graphids"
local U = require "graphids.nn._util"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local json = require "graphids.json"
local inst = require "graphids.orchestrate.instantiate"
local tracking = require "graphids.orchestrate.tracking"
local record = require "graphids.orchestrate.record"
local rd = require "graphids.orchestrate.run_dir"
local concat_outputs = require("graphids.trainer").concat_outputs
local D = require "graphids.trainer.device"

local M = {}

M.MARKERS = { train = ".train_complete", test = ".test_complete" }

-- The folder of a run dir that `graphids analyze` writes into.
M.ARTIFACTS = "artifacts"

-- The lock file of a run dir (graphids.orchestrate.run_dir holds it while a verb runs).
M.STAGE_LOCK = rd.LOCK_FILE

-- Records err as a stage_failed trace event of phase (none without a run dir) and raises it;
-- the verb's stage span (tracking.stage) then does not record it again.
local function fail(resolved, phase, err)
  tracking.failed(resolved.run_dir, resolved.stage_name, phase, err)
  error(err, 0)
end

local function is_fusion(resolved)
  return resolved.validated.model.class_path:find(".models.fusion", 1, true) ~= nil
end

-- The devices a configuration puts work on, with the keys that name them, in order: the
-- trainer's, and the data module's (batches made there).  The CPU is left out: it is always
-- there.
function M.devices(validated)
  local out = {}
  local data_args = type(validated.data) == "table" and validated.data.init_args
  for _, d in ipairs({ { "trainer.device", validated.trainer.device },
    { "data.init_args.device", type(data_args) == "table" and data_args.device or nil } }) do
    if d[2] ~= nil and d[2] ~= "cpu" then out[#out + 1] = { key = d[1], device = d[2] } end
  end
  return out
end

-- Frees what a previous stage left (Lua garbage, device caches, peak statistics), then builds.
-- Checked first, before the data is read or a dataset cache built: the model's hyper-parameter
-- values (a bad loss name leaves nothing behind), then the run dir, created here (one that
-- cannot be, read-only or under a file, is named).
-- A build that fails after that (no data root, a dataset without graphs) removes the folders it
-- created while they hold no file, so a refused stage leaves no empty run dir.
-- teacher_use goes to instantiate.build_run (whether a distillation teacher is loaded).
local function build(resolved, teacher_use)
  inst.check_model(resolved.validated)
  for _, d in ipairs(M.devices(resolved.validated)) do
    graphids.gpu.check_device(d.device, d.key) -- named before the data lands on it (or a run is replaced)
  end
  local created
  if resolved.run_dir ~= nil then
    created = rd.first_missing(resolved.run_dir)
    require("graphids.config").ensure_run_dir(resolved.run_dir)
  end
  collectgarbage("collect")
  graphids.gpu.reset()
  local ok, art = pcall(inst.build_run, resolved, { teacher_use = teacher_use })
  if not ok then
    if created ~= nil and not rd.holds_files(created) then gio.remove_tree(created) end
    error(art, 0)
  end
  return art
end

-- A failed build is recorded in its run dir's trace (a stage_failed event of phase "build")
-- when the run dir is there after it: the folders the build made are gone again (a stage
-- refused in a new run dir leaves no folder, only the error), and a run dir another process
-- holds (a fit running) is left alone, as the verbs leave it (locked: the caller holds it).
local function record_build_failure(resolved, err, locked)
  local dir = resolved.run_dir
  if dir == nil or not gio.is_dir(dir) then return end
  pcall(rd.with_lock, dir, locked, tracking.failed, dir, resolved.stage_name, "build", err)
end

-- opts.locked: the caller holds the run dir's stage lock (a pipeline stage), as for the verbs;
-- opts.teacher_use: false builds a distilled GAT without its teacher (a test runs no
-- distillation loss), a string says what needs a missing teacher (instantiate.build_run).
function M.build(resolved, opts)
  opts = U.options("stage.build", opts, { locked = false, teacher_use = U.NONE })
  local ok, art = pcall(build, resolved, opts.teacher_use)
  if not ok then
    record_build_failure(resolved, art, opts.locked)
    error(art, 0)
  end
  return art
end

-- Loads a checkpoint's weights (when path is given) and runs the model's post-fit calibration
-- (model:calibrate on the benign training graphs): DGI's SVDD centre is their mean embedding
-- under the final weights (the reference's SVDDCalibrationCallback), the calibrated VGAE score
-- their error statistics; both are recomputed after every load.
-- The model is calibrated on the trainer's device, where it is tested (the calibration's
-- tensors live beside its weights).  Returns true when the model was calibrated.
local function load_weights(artifacts, path)
  local model = artifacts.model
  if path ~= nil then
    model:load_state_dict(ckpt.load(path).model)
  end
  if type(model.calibrate) == "function" then
    local device = artifacts.trainer.device
    D.model(model, device)
    return model:calibrate(D.batches(artifacts.datamodule:train_loader():iter(0), device)) ~= nil
  end
  return false
end

-- The compatibility guard; a refusal is recorded in the run's trace before it is raised.
local function compat(path, artifacts, resolved, phase)
  local ok, err = pcall(ckpt.check_compat, path, artifacts.model,
    { vocab_digest = inst.vocab_digest(artifacts.datamodule) })
  if not ok then fail(resolved, phase, err) end
end

-- Runs step over a loader (eval mode, no grad) on the trainer's device and concatenates the
-- per-graph tensors, with the window start row and capture file of each graph.
local function predict(model, loader, trainer)
  local step = model.predict_step and "predict_step" or "test_step"
  local ctx = { generator = graphids.Generator(trainer.seed or 42), device = trainer.device }
  local outs = {}
  D.model(model, trainer.device)
  model:eval()
  graphids.no_grad(function()
    for batch in D.batches(loader:iter(0), trainer.device) do
      local row = {}
      for k, v in pairs(model[step](model, batch, ctx)) do row[k] = v end
      row.window_start = row.window_start or batch.window_start
      row.source_file = row.source_file or batch.source_file
      if row.labels == nil then row.labels = batch.y end
      outs[#outs + 1] = row
    end
  end)
  return concat_outputs(outs)
end

-- Writes the tensors of one prediction output as a safetensors sidecar (atomic).
local function write_sidecar(path, out)
  local tensors = {}
  for k, v in pairs(out) do
    if graphids.is_tensor(v) then tensors[k] = v:contiguous() end
  end
  local ok, err = gio.mkdir_p(path:match("^(.*)/[^/]+$"))
  if ok then
    ok, err = gio.save_safetensors(path, tensors, { format = "pt" })
  end
  if not ok then
    error(string.format("cannot write predictions %s: %s", path, tostring(err)), 0)
  end
end

-- The train/val sidecars, with the best checkpoint's weights and unshuffled, unfiltered loaders.
local function save_split_predictions(artifacts, resolved)
  local model, dm = artifacts.model, artifacts.datamodule
  local best = resolved.ckpt_file
  load_weights(artifacts, (best and gio.exists(best)) and best or nil)
  for _, split in ipairs({ "train", "val" }) do
    local path = gio.join(resolved.run_dir, "predictions", split .. ".safetensors")
    tracking.span(resolved.run_dir, "save_predictions", { split = split, path = path }, function()
      local out = predict(model, dm:eval_loader(split), artifacts.trainer)
      write_sidecar(path, out)
      tracking.event(resolved.run_dir, "save_predictions", { split = split, path = path,
        n = out.labels:numel() })
    end)
  end
end

-- A tracking URI no store can take is refused before the phase runs (tracking.check_uri), and
-- recorded in the trace.
local function check_tracking_uri(resolved, phase)
  if resolved.run_dir == nil then return end
  local ok, err = pcall(tracking.check_uri)
  if not ok then fail(resolved, phase, err) end
end

-- A callback whose on_fit_start commits the fit in run_dir: it sets aside what the new fit makes
-- stale (both markers, the test metrics and test predictions, inputs.json, the analysis
-- artifacts, and for a fresh fit
-- (not a resume) the previous run's best and last checkpoints with their sidecars and its
-- prediction sidecars,
-- or a crash in the first epoch would leave the old `last` for the next run to "resume" into a
-- finished old model), writes the run files (when asked), opens the fit's tracking run
-- (track: the handle of tracking.start_fit, whose callback otherwise waits for this), and calls
-- on_commit.  It runs after every other callback's on_fit_start and after the trainer built the
-- optimizer, so a fit refused before that (a bad learning rate, a checkpoint folder locked by
-- another run) leaves a finished run's record, results and tracking rows as they were.
local function committer(resolved, write_run_files, fresh, on_commit, track)
  local dir = resolved.run_dir
  -- the old model's test results go with every fit, a resume's too (its model changes)
  -- (and a pipeline's record of the inputs the old fit trained on: the pipeline's own commit
  -- writes it again; a fit outside it, with another teacher_ckpt or states_dir, leaves none)
  -- (and `graphids analyze`'s artifacts: they describe the old weights)
  local stale = { gio.join(dir, M.MARKERS.train), gio.join(dir, M.MARKERS.test),
    gio.join(dir, "test_metrics.json"), gio.join(dir, "predictions", "test"),
    gio.join(dir, record.INPUTS_FILE), gio.join(dir, M.ARTIFACTS) }
  if fresh then
    for _, p in ipairs({ resolved.ckpt_file, resolved.last_ckpt }) do
      stale[#stale + 1] = p
      stale[#stale + 1] = ckpt.sidecar_path(p)
    end
    stale[#stale + 1] = gio.join(dir, "predictions")
  end
  -- the record is set aside with them: a write that fails half-way (overrides.json after
  -- resolved.json) must not leave the new resolved.json beside the old run
  local record_files = write_run_files and { gio.join(dir, "resolved.json"), gio.join(dir, "overrides.json") }
    or {}
  table.move(record_files, 1, #record_files, #stale + 1, stale)
  local c = require("graphids.callbacks").Callback()
  function c.on_fit_start(_, trainer)
    local aside = rd.set_aside(stale)
    if write_run_files then
      local ok, err = pcall(require("graphids.config").write_run_files, resolved)
      if not ok then
        for _, f in ipairs(record_files) do gio.remove_tree(f) end -- what was written of the new one
        aside:restore()
        error(err, 0)
      end
    end
    for _, kept in ipairs(aside:discard()) do -- the record is right; only old bytes stay behind
      tracking.event(dir, "stale_results_kept", { level = "warning", path = kept[1], error = kept[2] })
    end
    if track and track.open then track.open(trainer) end
    -- what else the caller records with the fit (the pipeline: the inputs it trains on)
    if on_commit then on_commit() end
  end
  return c
end

-- Fits the model.  opts.resume_from: a checkpoint to resume from (checked against the model and
-- the data's vocabulary first).  opts.write_run_files: write resolved.json and overrides.json.
-- opts.on_commit: a function called when the fit commits to the run dir (after the previous
-- run's results are removed), to record what else belongs to this fit.
-- The run dir's record changes only when the fit commits (committer above).  The tracking run
-- is opened when the fit commits and closed in every case.  Returns the best checkpoint path (nil without
-- a run dir).
local function train(artifacts, resolved, opts)
  local run_dir = resolved.run_dir
  tracking.event(run_dir, "stage_train", { stage = resolved.stage_name, run_dir = run_dir,
    resume_from = opts.resume_from })
  if opts.resume_from ~= nil then
    compat(opts.resume_from, artifacts, resolved, "resume")
  end
  check_tracking_uri(resolved, "fit")
  local callbacks = artifacts.trainer.callbacks
  -- a resume from another run's checkpoint leaves this run dir's checkpoints another fit's:
  -- they go as for a fresh fit (kept, they would pass for this fit's best and last)
  local fresh = opts.resume_from == nil or
    not ckpt.same_as_any(opts.resume_from, resolved.ckpt_file, resolved.last_ckpt)
  -- a resume of this run dir's own fit finishes that fit: under another configuration its record
  -- would describe neither (kept, it hides the new settings; rewritten, the epochs before)
  local refused = not fresh and run_dir ~= nil and record.resume_problem(resolved)
  if refused then
    local msg = string.format("cannot resume %s: %s; resume with that configuration, or fit without " ..
      "--ckpt-path to train anew", run_dir, refused)
    fail(resolved, "resume", msg)
  end
  -- the tracking callback comes first (an epoch's metrics are logged before another callback
  -- can fail), and its run opens as the fit commits, so a fit refused before that leaves the
  -- tracking store as it left the run dir; a resume of this run dir's own fit logs into its
  -- tracking run again, so a killed fit leaves one run, not a RUNNING one beside a new one
  local h = tracking.start_fit(resolved, { resume = not fresh and tracking.fit_run_ref(run_dir) or nil })
  if h and h.callback then
    table.insert(callbacks, 1, h.callback)
  end
  local commit = run_dir ~= nil and committer(resolved, opts.write_run_files, fresh, opts.on_commit, h) or nil
  callbacks[#callbacks + 1] = commit
  local t0 = graphids.clock()
  local ok, err = pcall(artifacts.trainer.fit, artifacts.trainer, artifacts.model, artifacts.datamodule,
    { ckpt_path = opts.resume_from })
  -- both belong to this fit: a later fit of the same trainer (a REPL session) must neither
  -- commit this run's files nor log into its closed tracking run
  local track_cb = h and h.callback
  for i = #callbacks, 1, -1 do
    if callbacks[i] == commit or callbacks[i] == track_cb then table.remove(callbacks, i) end
  end
  tracking.end_fit(h, ok, err)
  if not ok then fail(resolved, "fit", err) end
  if run_dir ~= nil then
    -- .train_complete promises the best checkpoint the stage is tested (and skipped) with: a
    -- resume from a checkpoint at its end trains no epoch and saves none
    if not gio.exists(resolved.ckpt_file) then
      local msg = string.format("the fit ended without its best checkpoint %s (a resume from a checkpoint " ..
        "at its end trains no epoch, and a fit whose %s was never better than the checkpoint's saves " ..
        "none), so the run is not marked trained; fit anew, or resume with epochs left to train " ..
        "(trainer.max_epochs)", resolved.ckpt_file, resolved.validated.callbacks.checkpoint.monitor)
      fail(resolved, "fit", msg)
    end
    save_split_predictions(artifacts, resolved)
    ckpt.touch_marker(gio.join(run_dir, M.MARKERS.train))
  end
  tracking.event(run_dir, "stage_train_complete", { stage = resolved.stage_name, ckpt = resolved.ckpt_file,
    epochs = artifacts.trainer.epoch, seconds = graphids.clock() - t0 })
  return resolved.ckpt_file
end

-- Fusion outputs are a fused attack probability: the classifier metric set (accuracy, macro
-- F1, AUROC ...) at the policy's own 0.5 decision, as for the GAT.
local function fusion_metrics(out)
  local metrics = require "graphids.metrics"
  -- 1-D: the classifier set reads it as the columns 1 - p, p, taken in f64
  return metrics.scalars(metrics.classification(out.scores, out.labels, { input = "probs" }))
end

-- The metric key of each attack_intervals field ("intervals" alone would not say of what).
local INTERVAL_KEYS = { intervals = "attack_intervals", intervals_detected = "intervals_detected",
  interval_recall = "interval_recall", detection_delay_windows = "detection_delay_windows",
  detection_delay_windows_max = "detection_delay_windows_max", false_alarm_runs = "false_alarm_runs" }

local function warn_no_intervals(set, why)
  io.stderr:write(string.format("graphids: warning: test set %s has no attack-interval metrics: %s\n",
    set, why))
end

-- The event-level metrics (graphids.metrics.attack_intervals) of each test set whose outputs
-- hold preds with labels, window_start and source_file, as test/<set>/<key>, and pooled over
-- those sets as test/<key>; an empty table when no set has them (a model without preds).  They
-- add to the test's metrics and must not cost them: a set whose outputs cannot give them
-- (float decisions, more than two classes, two windows at one position) gets none, and
-- warn(set, why) says so (default: a line on stderr).
function M.interval_metrics(outputs, names, warn)
  local metrics = require "graphids.metrics"
  warn = warn or warn_no_intervals
  local out, results = {}, {}
  -- (the counts as floats, as every other metric: a tracking store keeps doubles, and
  -- `graphids runs` must read the same value from test_metrics.json as from the store)
  local function put(prefix, r)
    for field, key in pairs(INTERVAL_KEYS) do out[prefix .. key] = r[field] + 0.0 end
  end
  for _, name in ipairs(names) do
    local o = outputs[name]
    local have = true
    for _, k in ipairs({ "preds", "labels", "window_start", "source_file" }) do
      have = have and graphids.is_tensor(o[k])
    end
    if have then
      -- (called through pcall, its errors carry no position of this file)
      local ok, r = pcall(metrics.attack_intervals, o.preds, o.labels, o.window_start, o.source_file)
      if ok then
        results[#results + 1] = r
        put(metrics.prefix("test", name), r)
      else
        warn(name, tostring(r))
      end
    end
  end
  if #results > 0 then put("test/", metrics.pool_attack_intervals(results)) end
  return out
end

-- metrics as JSON can hold them: a non-finite value (an operating point that was never
-- reached is +inf, an undefined one NaN) becomes null.
function M.json_metrics(m)
  local out = {}
  for k, v in pairs(m) do
    out[k] = (type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge)) and json.null or v
  end
  return next(out) and out or json.object()
end

-- Tests on every test set (weights from opts.ckpt_path, else resolved.ckpt_file, else the
-- model in memory).  opts.write_run_files: write resolved.json and overrides.json when the run
-- dir has none (a fit's record, which says how the weights were trained, is kept).  Writes
-- predictions/test/<set>.safetensors, test_metrics.json, the .test_complete marker and the
-- test-phase tracking row.  Returns the metrics (test/<metric> pooled, test/<set>/<metric> per
-- set): the trainer's, and the attack-interval ones where the outputs have preds (above).
local function evaluate(artifacts, resolved, opts)
  local run_dir = resolved.run_dir
  local path = opts.ckpt_path or resolved.ckpt_file
  -- metrics recorded in the run dir are its fit's: an interrupted fit's best (or one still
  -- running, whose commit removed the marker) would be marked tested and then skipped
  if run_dir ~= nil and not gio.exists(gio.join(run_dir, M.MARKERS.train)) then
    error(string.format("%s has no finished fit (no %s: the fit was interrupted, or is still " ..
      "running); finish it first (graphids fit with the same arguments and --ckpt-path %s), " ..
      "then test", run_dir, M.MARKERS.train,
      resolved.last_ckpt or "<run dir>/checkpoints/last.safetensors"), 0)
  end
  tracking.event(run_dir, "stage_test", { stage = resolved.stage_name, ckpt = path })
  if path ~= nil then
    compat(path, artifacts, resolved, "test")
  end
  -- other data or another model than the run dir's fit had: the metrics would be recorded as the
  -- fit's (graphids test and the pipeline test such a configuration without its run dir)
  local changed = run_dir ~= nil and record.changes(resolved, record.TESTED)
  if changed then
    local msg = string.format("%s was trained with other settings (%s): a test with these would be " ..
      "recorded as its fit's; test without the run dir (graphids test prints such metrics), or delete it " ..
      "to train with these", run_dir, changed)
    fail(resolved, "test", msg)
  end
  check_tracking_uri(resolved, "test")
  if opts.write_run_files and run_dir ~= nil and not gio.exists(gio.join(run_dir, "resolved.json")) then
    -- a fit run without its record: written from this configuration only when the checkpoint
    -- says it was trained under it (else the record would claim settings the fit never had)
    if record.digest_matches(resolved) ~= false then
      require("graphids.config").write_run_files(resolved)
    else
      local msg = string.format("%s has no resolved.json, and its checkpoint was trained under another " ..
        "configuration than this test's: the test's settings cannot be checked against the fit's, and no " ..
        "record is written", run_dir)
      tracking.event(run_dir, "unrecorded_fit", { level = "warning", message = msg })
      io.stderr:write("graphids: warning: ", msg, "\n")
    end
  end
  local trainer = artifacts.trainer
  -- (the compat check above has run: a calibrated model is tested with the weights it holds)
  local test_path = path
  if type(artifacts.model.calibrate) == "function" and load_weights(artifacts, path) then
    test_path = nil
  end
  local ok, metrics = pcall(tracking.span, run_dir, "test", { ckpt = test_path }, trainer.test, trainer,
    artifacts.model, artifacts.datamodule,
    { ckpt_path = test_path, metrics = is_fusion(resolved) and fusion_metrics or nil })
  if not ok then fail(resolved, "test", metrics) end
  local names = {}
  for name in pairs(trainer.test_outputs) do names[#names + 1] = name end
  table.sort(names)
  local threshold = metrics["test/threshold"]
  for _, name in ipairs(names) do
    local out = trainer.test_outputs[name]
    if out.preds == nil and threshold ~= nil and graphids.is_tensor(out.scores) then
      -- anomaly scores: the decision at the threshold fitted on validation
      out.preds = out.scores:ge(threshold):long()
    end
  end
  -- per attack interval, from the preds above (the anomaly detectors' exist only now)
  local function skipped(set, why)
    warn_no_intervals(set, why)
    tracking.event(run_dir, "interval_metrics_skipped", { level = "warning", set = set, reason = why })
  end
  metrics = require("graphids.metrics").merge(metrics,
    M.interval_metrics(trainer.test_outputs, names, skipped))
  if run_dir ~= nil then
    tracking.span(run_dir, "save_predictions", { split = "test" }, function()
      for _, name in ipairs(names) do
        write_sidecar(gio.join(run_dir, "predictions", "test", name .. ".safetensors"),
          trainer.test_outputs[name])
      end
    end)
    tracking.event(run_dir, "save_test_predictions", { sets = json.array(names),
      dir = gio.join(run_dir, "predictions", "test") })
    local okw, err = gio.write_json(gio.join(run_dir, "test_metrics.json"), M.json_metrics(metrics))
    if not okw then
      error(string.format("cannot write %s/test_metrics.json: %s", run_dir, tostring(err)), 0)
    end
    ckpt.touch_marker(gio.join(run_dir, M.MARKERS.test))
    tracking.log_test(resolved, metrics)
  end
  tracking.event(run_dir, "stage_complete", { stage = resolved.stage_name })
  return metrics
end

-- The verbs, each inside a "stage" span of the run's trace (tracking.stage: the fit, epoch, test
-- and save_predictions spans nest in it; a failure is on its end line before it propagates, and
-- in a stage_failed event, where it happened or of the verb's phase: a predictions sidecar or
-- test_metrics.json that cannot be written, a test of an unfinished fit, so every failure of a
-- verb is in its trace).  Each holds the run dir's stage lock while it runs (opts.locked:
-- the caller holds it, as a pipeline stage does; a verb refused the lock records nothing in a
-- run dir another process is using).
-- A checkpoint a verb is given: Lightning's words "last" and "best" name the run dir's own last
-- and best checkpoints (a file named so in the working folder is ./last); anything else is the
-- path as given.  Resolved here, once, so that the checks (compat, whose fit it is) read the
-- file the trainer then loads: passed on as words, the trainer would read them from its own
-- checkpoint folders, while the checks had read ./last.  An error without a run dir.
function M.checkpoint_path(resolved, path, fname)
  if path ~= "last" and path ~= "best" then return path end
  local file = path == "last" and resolved.last_ckpt or resolved.ckpt_file
  if file == nil then
    error(string.format('%s: checkpoint "%s" names the run dir\'s %s checkpoint, and this configuration ' ..
      "has no run dir (trainer.default_root_dir is empty); give a path (a file named %s: ./%s)", fname,
      path, path, path, path), 0)
  end
  return file
end

function M.train(artifacts, resolved, opts)
  opts = U.options("stage.train", opts, { resume_from = U.NONE, write_run_files = false, on_commit = U.NONE,
    locked = false })
  opts.resume_from = M.checkpoint_path(resolved, opts.resume_from, "stage.train")
  return rd.with_lock(resolved.run_dir, opts.locked, tracking.stage, resolved.run_dir, resolved.stage_name,
    "fit", train, artifacts, resolved, opts)
end

function M.evaluate(artifacts, resolved, opts)
  opts = U.options("stage.evaluate", opts, { ckpt_path = U.NONE, write_run_files = false, locked = false })
  opts.ckpt_path = M.checkpoint_path(resolved, opts.ckpt_path, "stage.evaluate")
  return rd.with_lock(resolved.run_dir, opts.locked, tracking.stage, resolved.run_dir, resolved.stage_name,
    "test", evaluate, artifacts, resolved, opts)
end

return M
