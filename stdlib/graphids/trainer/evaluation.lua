-- graphids.trainer.evaluation -- the Trainer's test and predict: Trainer:predict,
-- Trainer:save_predictions and Trainer:test (docs/trainer.md, "Test and predict").  Installed on
-- the class by graphids.trainer (its init.lua), which hands over the helpers the loop shares with
-- fit: check_model, on_device, ctx_of, run_step, load_checked.  Returns {concat_outputs}.
local graphids = require "graphids"
local U = require "graphids.nn._util"
local Device = require "graphids.trainer.device"

return function(Trainer, h)
  local check_model, on_device, ctx_of, run_step, load_checked =
    h.check_model, h.on_device, h.ctx_of, h.run_step, h.load_checked


  -- The tensors of a list of per-batch tables, concatenated key by key (CPU).  A key whose parts
  -- all live on one device is concatenated there and moved in one copy (each move to the host
  -- waits for the device: one per key, not one per batch and key).
  local function concat_outputs(list)
    local keys = {}
    for _, out in ipairs(list) do
      for k, v in pairs(out) do
        if graphids.is_tensor(v) then keys[k] = true end
      end
    end
    local res = {}
    for _, k in ipairs(U.sorted_keys(keys)) do
      local parts, device = {}, nil
      for _, out in ipairs(list) do
        local v = out[k]
        if v ~= nil then
          parts[#parts + 1] = v:detach()
          device = (device == nil or device == v.device) and v.device or false
        end
      end
      if device == "cpu" or device == false then
        for i, v in ipairs(parts) do parts[i] = v:to("cpu") end
        res[k] = #parts == 1 and parts[1] or graphids.cat(parts, 1)
      else
        res[k] = (#parts == 1 and parts[1] or graphids.cat(parts, 1)):to("cpu")
      end
    end
    return res
  end

  -- (fast_dev_run: its n batches of each loader, as Lightning's limits test and predict too)
  local function run_predict(self, model, loader, step)
    local ctx = ctx_of(self)
    local outs = {}
    local limit = self.fast_dev_run or nil
    model:eval()
    graphids.no_grad(function()
      local ran = 0
      for batch in loader:iter(0) do
        batch = on_device(self, batch)
        local out = run_step(self, model, step, batch, ctx)
        if type(out) == "table" then
          local row = {}
          for k, v in pairs(out) do row[k] = v end
          -- Every prediction maps back to CAN frames (window start row and capture file).
          if row.window_start == nil and graphids.is_tensor(batch.window_start) then
            row.window_start = batch.window_start
          end
          if row.source_file == nil and graphids.is_tensor(batch.source_file) then
            row.source_file = batch.source_file
          end
          outs[#outs + 1] = row
        end
        ran = ran + 1
        if limit ~= nil and ran >= limit then break end
      end
    end)
    return concat_outputs(outs)
  end

  -- predict_step over a loader (eval mode, no grad): per-graph tensors concatenated by key
  -- (scores, preds, labels, ... plus window_start and source_file from the batches).
  function Trainer:predict(model, loader)
    check_model(model, "predict", { "predict_step" })
    if type(loader) ~= "table" or type(loader.iter) ~= "function" then
      error("Trainer:predict: loader must have iter() (a graphids.data loader)", 2)
    end
    Device.model(model, self.device) -- as fit and test: the batches go there too
    self.generator = self.generator or graphids.Generator(self.seed)
    return run_predict(self, model, loader, "predict_step")
  end

  -- Writes predict() of a loader as a safetensors file (atomic): the prediction sidecars.
  function Trainer:save_predictions(path, model, loader)
    local out = self:predict(model, loader)
    local tensors = {}
    for k, v in pairs(out) do
      if k ~= "probs" or v.ndim == 2 then tensors[k] = v:contiguous() end
    end
    local dir = path:match("^(.*)/[^/]+$")
    if dir then assert(require("graphids.io").mkdir_p(dir)) end
    local ok, err = graphids.save_safetensors(path, tensors, { format = "pt" })
    if not ok then error("Trainer:save_predictions: " .. tostring(err), 0) end
    return out
  end

  -- The metric function of test(): opts.metrics (function(outputs) -> name -> number), else the
  -- model's test_metrics(outputs), else graphids.metrics.of_outputs -- the classifier set when
  -- the outputs hold probs [N,K], otherwise the threshold set with the threshold fitted on the
  -- validation outputs (test_step over the val loader), never on the test labels.  Without
  -- validation scores, or when their labels hold a single class (Youden's J needs both), only the
  -- threshold-free metrics, with a warning (once) saying why.
  local function metric_fn(self, model, datamodule, given)
    if given ~= nil then
      if type(given) ~= "function" then
        error("Trainer:test: opts.metrics must be a function of the outputs, got " .. type(given), 0)
      end
      return given
    end
    if type(model.test_metrics) == "function" then
      return function(out) return model:test_metrics(out) end
    end
    local metrics = require "graphids.metrics"
    local of_outputs = metrics.of_outputs
    local decided, fit_on
    -- of_outputs' opts for the anomaly sets: {val = ...}, or nil (threshold-free) after a warning
    local function threshold_opts()
      if decided then return fit_on end
      decided = true
      local val = datamodule.val_loader and run_predict(self, model, datamodule:val_loader(), "test_step")
      local why
      if not (val and graphids.is_tensor(val.scores) and val.scores:numel() > 0) then
        why = "no validation scores to fit the anomaly threshold on (val_fraction = 0?)"
      elseif graphids.is_tensor(val.labels) and not U.is_float(val.labels) then
        -- (labels other than 0/1, or of a float dtype, go on to metrics.anomaly, whose error
        -- names them: all-zero float labels are refused as mixed ones are, not a single class)
        local y, n = val.labels, val.labels:numel()
        local neg, pos = y:eq(0):long():sum():item(), y:eq(1):long():sum():item()
        if neg + pos == n and (neg == 0 or pos == 0) then
          why = string.format("the validation labels hold a single class (%d negative, %d positive), " ..
            "and fitting the anomaly threshold (Youden's J) needs both", neg, pos)
        end
      end
      if why then
        -- say why the threshold metrics are missing rather than leave the keys out silently
        self:warn("test: " .. why .. "; only the threshold-free metrics (auroc, ap, operating points) " ..
          "are reported")
        return nil
      end
      fit_on = { val = { scores = val.scores, labels = val.labels } }
      return fit_on
    end
    return function(out)
      local probs = out.probs
      if graphids.is_tensor(probs) and probs.ndim == 2 then
        return of_outputs(out)
      end
      return of_outputs(out, threshold_opts())
    end
  end

  -- Tests model on every test set of datamodule (opts.ckpt_path: weights loaded after the
  -- compatibility check).  Returns one table: the metrics pooled over every set as
  -- "test/<metric>" and each set's as "test/<set>/<metric>" (no key can collide: names hold no
  -- '/').  opts.metrics overrides the metric function.  The per-set outputs stay in
  -- trainer.test_outputs (name -> tensors) for the prediction files.
  function Trainer:test(model, datamodule, opts)
    local o = U.options("Trainer:test", opts, { ckpt_path = U.NONE, metrics = U.NONE })
    o.ckpt_path = require("graphids.trainer.ckpt_path").resolve(self, o.ckpt_path, "test") -- "last", "best"
    check_model(model, "test", { "test_step" })
    if type(datamodule) ~= "table" or type(datamodule.test_loaders) ~= "function" then
      error("Trainer:test: datamodule must provide test_loaders()", 2)
    end
    if datamodule.setup then datamodule:setup() end
    if o.ckpt_path then
      local c = load_checked(self, o.ckpt_path, model, datamodule, "test")
      model:load_state_dict(c.model)
    end
    Device.model(model, self.device)
    self.model, self.datamodule = model, datamodule
    self.generator = graphids.Generator(self.seed)
    local fn = metric_fn(self, model, datamodule, o.metrics)
    self.stage = "test"
    -- on_exception hooks see a test's error too (Lightning's)
    local ok, res = xpcall(function()
      return self:_test_sets(model, datamodule, fn)
    end, self._keep_traceback)
    if not ok then self:_fail(res) end
    return res
  end

  -- test()'s body from on_test_start to on_test_end: the metrics of every test set and pooled.
  function Trainer:_test_sets(model, datamodule, fn)
    self:_hook("on_test_start")
    local result, per_set, names = {}, {}, {}
    local function put(prefix, m)
      if type(m) ~= "table" then
        error("Trainer:test: the metric function returned " .. type(m) .. ", not a table of metrics", 0)
      end
      for k, v in pairs(m) do
        if type(v) == "number" then result[prefix .. k] = v end
      end
    end
    for name, loader in datamodule:test_loaders() do
      local out = run_predict(self, model, loader, "test_step")
      if next(out) ~= nil then
        names[#names + 1] = name
        per_set[name] = out
        put("test/" .. name .. "/", fn(out))
      end
    end
    if #names == 0 then
      -- "tested" with no metrics would pass for a result (a pipeline would skip the stage for good)
      error("Trainer:test: nothing to test: the data module gave no test window (a dataset needs a test " ..
        "sub-folder whose captures hold at least one window)", 0)
    end
    local pooled = {}
    for _, name in ipairs(names) do pooled[#pooled + 1] = per_set[name] end
    put("test/", fn(concat_outputs(pooled)))
    self.test_outputs = per_set
    self:_hook("on_test_end", result)
    return result
  end

  return { concat_outputs = concat_outputs }
end
