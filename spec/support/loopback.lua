-- loopback.lua -- runs a Lua source in a child host on the loopback device
-- (build/lib/graphids_loopback.so; the plugin is loaded once per process, so a spec's own host
-- cannot switch to it).
--   local lb = require "loopback"
--   if skip.unless(lb.built(), "...") then return end
--   local out, rc = lb.run(src, "GIDS_LOOPBACK_DISABLE=stream_create ")
local gio = require "graphids.io"
local proc = require "trainer.support.proc"

local M = {}

M.plugin = proc.build_path("lib/graphids_loopback.so")

function M.built()
  return gio.exists(M.plugin)
end

-- Runs src with extra environment `env` ("" or "NAME=value "); returns its output and exit code.
function M.run(src, env)
  local dir = os.tmpname() .. ".d"
  assert(os.execute("mkdir -p " .. proc.q(dir)))
  local script = gio.join(dir, "script.lua")
  proc.spit(script, src)
  local p = io.popen(("cd %s && %sGIDS_CUDA_PLUGIN=%s %s run %s 2>&1; echo \"rc=$?\"")
    :format(proc.q(proc.cwd), env or "", proc.q(M.plugin), proc.q(proc.host), proc.q(script)))
  local out = p:read("a")
  p:close()
  os.execute("rm -rf " .. proc.q(dir))
  return (out:gsub("rc=%d+\n$", "")), tonumber(out:match("rc=(%d+)\n$"))
end

return M
