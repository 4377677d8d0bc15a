-- spec/track/runs_support.lua -- for the `graphids runs --tracking-uri` specs: the host run with
-- environment variables, and a lake written by spec/track/runs_writer.lua into a tracking store.
--   local support = require "track.runs_support"
--   local parent = support.write_runs(lake, uri)          -- run dirs + runs in uri; the parent id
--   support.write_runs(lake, uri, {real = true})           -- and a real tiny fit + test
--   local out, err, rc = support.host({MLFLOW_TRACKING_URI = uri}, {"runs", "list"})
local proc = require "trainer.support.proc"

local M = {}

-- Runs the host with args and env ({NAME = value}, "" unsets); returns stdout, stderr, exit code.
function M.host(env, args)
  local pre = {}
  for _, k in ipairs(require("graphids.track.mlflow").sorted_keys(env or {})) do
    pre[#pre + 1] = env[k] == "" and ("-u " .. k) or (k .. "=" .. proc.q(env[k]))
  end
  local words = {}
  for i, a in ipairs(args) do words[i] = proc.q(a) end
  local err = os.tmpname()
  local p = io.popen(string.format("env %s %s %s 2>%s; echo \"rc=$?\"", table.concat(pre, " "),
    proc.q(proc.host), table.concat(words, " "), proc.q(err)))
  local out = p:read("a")
  p:close()
  local e = proc.slurp(err)
  os.remove(err)
  return (out:gsub("rc=%d+\n$", "")), e, tonumber(out:match("rc=(%d+)\n$"))
end

-- Writes the fixture lake (runs_writer.lua) with its runs tracked in uri, all children of one
-- parent run (opts.real: also a real tiny fit and test, a child too); returns the parent's run id.
function M.write_runs(lake, uri, opts)
  local env = { MLFLOW_TRACKING_URI = uri, MLFLOW_PARENT_RUN_ID = "" }
  local out, err, rc = M.host(env, { "run", "spec/track/runs_writer.lua", lake, "parent" })
  assert(rc == 0, err)
  local parent = assert(out:match("(%x+)\n$"), out)
  env.MLFLOW_PARENT_RUN_ID = parent
  for _, mode in ipairs({ "runs", (opts or {}).real and "real" or nil }) do
    out, err, rc = M.host(env, { "run", "spec/track/runs_writer.lua", lake, mode })
    assert(rc == 0, tostring(err) .. out)
  end
  return parent
end

-- The lines of s without its last one (the "N run(s) under/in ..." footer of runs list).
function M.without_footer(s)
  return (s:gsub("[^\n]*\n$", ""))
end

return M
