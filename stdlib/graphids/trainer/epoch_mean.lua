-- trainer/epoch_mean.lua -- the Trainer's epoch metrics: graph-weighted means of the values a
-- step logs, in Lua doubles (the order of the batches is fixed, so the sums are the same on every
-- run), and the reads that bring a step's values back from its device in one copy.
--   local m = EpochMean.new(sums_or_nil)
--   local extra = m:add(trainer, logs, n, "training_step", extra_tensor_or_nil)
--   m:defer(logs, n, "validation_step") ... m:settle(trainer)
--   m:into(trainer.callback_metrics); m:sums()   -- a mid-epoch checkpoint's epoch_sums
local graphids = require "graphids"
local U = require "graphids.nn._util"

local M = {}

local Mean = {}
Mean.__index = Mean

-- sums: a checkpoint's epoch_sums ({sum =, weight =}), the part of an epoch run before it.
function M.new(sums)
  local m = setmetatable({ sum = {}, weight = {}, last = {} }, Mean)
  for k, v in pairs(sums and sums.sum or {}) do m.sum[k] = v end
  for k, v in pairs(sums and sums.weight or {}) do m.weight[k] = v end
  return m
end

local function device_scalar(v)
  return graphids.is_tensor(v) and v.device ~= "cpu" and v:numel() == 1
    and (v.dtype == "f32" or v.dtype == "f64")
end

-- The logged float scalars on one device (keys in order), and `extra` (a 0-d f32/f64 tensor the
-- caller wants with them: the gradients' inf/NaN count) when it is on that device too, read back
-- in one copy: each read waits for the device, so a step's loss, accuracy and gradient check
-- cost one wait, not three.  f32 and f64 values are exact in f64.  Returns name -> number (others
-- are read one by one), and extra's value when it was read.
local function read_together(logs, keys, extra)
  local picked, device = {}, nil
  for _, k in ipairs(keys) do
    local v = logs[k]
    if device_scalar(v) and (device == nil or v.device == device) then
      device = v.device
      picked[#picked + 1] = k
    end
  end
  local with_extra = device_scalar(extra) and (device == nil or extra.device == device)
  local got = {}
  if #picked + (with_extra and 1 or 0) < 2 then return got, nil end
  local parts = {}
  for i, k in ipairs(picked) do parts[i] = logs[k]:detach():reshape({ 1 }):to("f64") end
  if with_extra then parts[#parts + 1] = extra:reshape({ 1 }):to("f64") end
  local host = graphids.cat(parts, 1):totable()
  for i, k in ipairs(picked) do got[k] = host[i] end
  return got, with_extra and host[#host] or nil
end

-- Adds a step's logged values (n: the batch's weight) to the sums; `where` names the step
-- function in errors.  extra: nil, or a 0-d tensor read with the logged values; its value is
-- returned (nil without one).
function Mean:add(trainer, logs, n, where, extra)
  if type(logs) ~= "table" then
    error(string.format("%s must return a table of logged values, got %s", where, type(logs)), 0)
  end
  local keys = U.sorted_keys(logs)
  local read, extra_value = read_together(logs, keys, extra)
  if extra ~= nil and extra_value == nil then extra_value = extra:item() end
  for _, k in ipairs(keys) do
    local v = read[k] or logs[k]
    if graphids.is_tensor(v) then
      if v:numel() ~= 1 then
        error(string.format("%s logged '%s' as a tensor of %d elements; logged values must be scalars",
          where, k, v:numel()), 0)
      end
      v = v:item()
    end
    if type(v) ~= "number" then
      error(string.format("%s logged '%s' = %s; logged values must be numbers", where, k, tostring(v)), 0)
    end
    if v ~= v then
      error(string.format("Trainer: metric '%s' is NaN (%s, epoch %d, global step %d); a NaN " ..
        "metric would mislead checkpointing and early stopping", k, where, trainer.epoch,
        trainer.global_step), 0)
    end
    self.sum[k] = (self.sum[k] or 0) + v * n
    self.weight[k] = (self.weight[k] or 0) + n
    self.last[k] = v
  end
  return extra_value
end

-- Validation defers its reads to the end of the pass (settle), so its batches follow each other
-- on the device without a wait between them; the sums come out the same (batch order).
function Mean:defer(logs, n, where)
  self.pending = self.pending or {}
  self.pending[#self.pending + 1] = { logs, n, where }
end

function Mean:settle(trainer)
  for _, p in ipairs(self.pending or {}) do
    self:add(trainer, p[1], p[2], p[3])
  end
  self.pending = nil
end

-- Copies of the sums and weights so far (a mid-epoch checkpoint's epoch_sums).
function Mean:sums()
  local sum, weight = {}, {}
  for k, v in pairs(self.sum) do sum[k] = v end
  for k, v in pairs(self.weight) do weight[k] = v end
  return { sum = sum, weight = weight }
end

function Mean:into(out)
  for k, s in pairs(self.sum) do
    local w = self.weight[k]
    out[k] = w > 0 and s / w or 0 / 0
  end
  return out
end

return M
