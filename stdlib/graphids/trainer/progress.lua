-- graphids.trainer.progress -- what the trainer prints while fitting: a one-line progress bar
-- redrawn in place on a terminal (epoch, step, loss, throughput, ETA), plain lines every
-- `every` steps and at each epoch end otherwise (logs, CI, SLURM files), or nothing.
--   local P = require "graphids.trainer.progress"
--   local p = P.new{mode = "auto", every = 50}          -- "auto" | "bar" | "lines" | "off"
--   p:epoch_start(epoch, max_epochs, nbatches); p:step(i, loss, graphs); p:epoch_end(metrics)
--   p:note(metrics)   -- per-step values (trainer:log_step_metrics), shown on the lines from then on
-- (loss: a number, or a 0-d tensor, read only when a line shows it)
local M = {}
M.__index = M

-- True when stdout is a terminal.  Plain Lua cannot call isatty(); `test -t 1` in a child shell
-- inherits our stdout, so it answers for it (once per trainer).
local function stdout_is_tty()
  local ok = os.execute("test -t 1")
  return ok == true
end

local sorted_keys = require("graphids.nn._util").sorted_keys

-- graphids.clock(): a monotonic wall clock in seconds (os.clock counts CPU time).
local clock = require("graphids").clock
M.clock = clock

-- nil when mode is a progress mode, else the message (the Trainer checks it at construction).
function M.mode_error(mode)
  if mode == "auto" or mode == "bar" or mode == "lines" or mode == "off" then return nil end
  return "progress must be 'auto', 'bar', 'lines' or 'off', got '" .. tostring(mode) .. "'"
end

function M.new(opts)
  opts = opts or {}
  local mode = opts.mode or "auto"
  local err = M.mode_error(mode)
  if err then error("Trainer: " .. err, 3) end
  if mode == "auto" then
    mode = stdout_is_tty() and "bar" or "lines"
  end
  return setmetatable({ mode = mode, every = opts.every or 50, out = opts.out or io.stdout }, M)
end

local function fmt_time(s)
  if s ~= s or s == math.huge or s < 0 then
    return "?"
  end
  s = math.floor(s + 0.5)
  if s >= 3600 then
    return string.format("%d:%02d:%02d", s // 3600, s // 60 % 60, s % 60)
  end
  return string.format("%d:%02d", s // 60, s % 60)
end
M.fmt_time = fmt_time

function M:epoch_start(epoch, max_epochs, nbatches)
  self.epoch, self.max_epochs, self.nbatches = epoch, max_epochs, nbatches
  self.t0, self.graphs, self.loss, self.i0 = clock(), 0, nil, nil
end

-- The status text after step i of the epoch.
function M:line(i)
  local dt = clock() - self.t0
  local rate = dt > 0 and self.graphs / dt or 0
  -- (i0: the batches a resume found already run this epoch, which took none of dt)
  local ran = i - (self.i0 or 0)
  local eta = (self.nbatches and ran > 0) and dt / ran * (self.nbatches - i) or nil
  local parts = { string.format("epoch %d/%d", self.epoch + 1, self.max_epochs) }
  if self.mode == "bar" and self.nbatches and self.nbatches > 0 then
    local w = 20
    local fill = math.floor(w * i / self.nbatches)
    parts[#parts + 1] = "[" .. string.rep("#", fill) .. string.rep(".", w - fill) .. "]"
  end
  parts[#parts + 1] = string.format("step %d/%s", i, self.nbatches and tostring(self.nbatches) or "?")
  if self.loss then
    -- a tensor when the step logged no train_loss: read only when shown
    local l = type(self.loss) == "number" and self.loss or self.loss:item()
    parts[#parts + 1] = string.format("loss %.4f", l)
  end
  for _, k in ipairs(self.noted_keys or {}) do
    parts[#parts + 1] = string.format("%s=%.6g", k, self.noted[k])
  end
  parts[#parts + 1] = string.format("%.0f graphs/s", rate)
  if eta then
    parts[#parts + 1] = "eta " .. fmt_time(eta)
  end
  return table.concat(parts, " ")
end

-- i: the batch of this epoch (shown); step: the fit's global step (lines are written every
-- `every` steps of the fit, as Lightning's log_every_n_steps, not of each epoch: epochs shorter
-- than `every` batches would print none), or false for a batch that took no optimizer step (its
-- gradients accumulate: the step count has not moved, and a line was written for it already).
function M:step(i, loss, graphs, step)
  self.i0 = self.i0 or i - 1
  self.loss, self.graphs = loss or self.loss, self.graphs + (graphs or 0)
  if self.mode == "bar" then
    self.out:write("\r", self:line(i), "\27[K")
    self.out:flush()
  elseif self.mode == "lines" and step ~= false and (step or i) % self.every == 0 then
    self.out:write(self:line(i), "\n")
    self.out:flush()
  end
end

-- Per-step values (name -> number) the lines show, sorted, until a later note replaces one:
-- a monitor logs them every log_every_n_steps-th step, the step a line is written for.
function M:note(metrics)
  self.noted = self.noted or {}
  local fresh = false
  for k, v in pairs(metrics) do
    if type(v) == "number" then
      fresh = fresh or self.noted[k] == nil
      self.noted[k] = v
    end
  end
  if fresh then self.noted_keys = sorted_keys(self.noted) end
end

-- metrics: name -> number, printed sorted.
function M:epoch_end(metrics)
  if self.mode == "off" then
    return
  end
  local keys = sorted_keys(metrics)
  local parts = { string.format("epoch %d/%d done in %s", self.epoch + 1, self.max_epochs,
    fmt_time(clock() - self.t0)) }
  for _, k in ipairs(keys) do
    parts[#parts + 1] = string.format("%s=%.6g", k, metrics[k])
  end
  if self.mode == "bar" then
    self.out:write("\r\27[K")
  end
  self.out:write(table.concat(parts, " "), "\n")
  self.out:flush()
end

return M
