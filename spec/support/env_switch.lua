-- env_switch.lua -- what a process-wide switch read from the environment says first, in a child
-- host (the environment is read once per process, so the spec's own host cannot be used):
--   local first_read = require("env_switch").first_read
--   first_read("GRAPHIDS_RNN_TF32", "gpu.rnn_tf32()", "GRAPHIDS_RNN_TF32=1")  --> "true"
-- The variable is unset first; env ("" or "NAME=value ...") is the child's environment prefix.
-- Returns the child's output: the expression's value, or the host's error.
local gio = require "graphids.io"
local proc = require "trainer.support.proc"

local M = {}

function M.first_read(var, expr, env)
  local dir = proc.tmpdir()
  local script = gio.join(dir, "read.lua")
  proc.spit(script, 'local gpu = require("graphids").gpu\nio.write(tostring(' .. expr .. '))')
  local p = io.popen(("env -u %s %s %s run %s 2>&1"):format(var, env, proc.q(proc.host), proc.q(script)))
  local out = p:read("a")
  p:close()
  proc.rmtree(dir)
  return out
end

return M
