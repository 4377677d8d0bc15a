-- graphids.orchestrate.executor -- where a pipeline's stages run.  The interface is two
-- functions, so a cluster executor (sbatch with afterok dependencies) can be added beside this
-- one without touching the pipeline:
--   ex:run(job) -> ok, result | error     job = {name, action, fn = function() ... end}
--   ex.name                               shown in the plan
-- The local executor runs jobs in this process, one at a time, freeing Lua garbage and device
-- caches between them (a stage never inherits the previous one's memory).
local graphids = require "graphids"

local M = {}

local Local = {}
Local.__index = Local

function Local:run(job)
  collectgarbage("collect")
  local gpu = graphids.gpu
  if gpu and gpu.reset then
    pcall(gpu.reset)
  end
  local loaded = package.loaded["graphids.trainer"]
  if loaded then loaded.last_error = nil end
  local ok, res = xpcall(job.fn, function(e)
    if self.traceback then
      -- a fit re-raises its error from Trainer:fit; the frames where it happened are the
      -- trainer's record of it
      local T = package.loaded["graphids.trainer"]
      local inner = T and T.last_error
      if inner and rawequal(inner.message, e) then
        return inner.traceback .. "\n(re-raised by Trainer:fit)"
      end
      return debug.traceback(tostring(e), 2)
    end
    return e
  end)
  collectgarbage("collect")
  return ok, res
end

-- opts.traceback: keep the Lua traceback in a failed job's error (for debugging).
function M.local_executor(opts)
  opts = require("graphids.nn._util").options("local_executor", opts, { traceback = false })
  return setmetatable({ name = "local", traceback = opts.traceback }, Local)
end

return M
