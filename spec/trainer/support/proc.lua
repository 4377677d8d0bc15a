-- spec/trainer/support/proc.lua -- processes and files for the trainer and checkpoint specs:
-- the graphids host of the build under test, temp dirs, whole-file reads.
--   local proc = require "trainer.support.proc"
--   local out, err, rc = proc.run({"ckpt", "inspect", path})
--   local pid = proc.spawn({"run", script, dir}, log)        -- background; proc.kill9(pid)
local M = {}

local build = os.getenv("GRAPHIDS_BUILD") or "build"
local cwd = io.popen("pwd"):read("l")
M.cwd = cwd
-- The absolute path of rel under the build tree under test ($GRAPHIDS_BUILD, default build/).
function M.build_path(rel)
  return (build:sub(1, 1) == "/" and build or cwd .. "/" .. build) .. "/" .. rel
end

M.host = M.build_path("bin/graphids")

function M.q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

function M.slurp(path)
  local f = io.open(path, "rb")
  if not f then
    return nil
  end
  local s = f:read("a")
  f:close()
  return s
end

function M.spit(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

function M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. M.q(d)))
  return d
end

function M.rmtree(d)
  os.execute("rm -rf " .. M.q(d))
end

local function words(args)
  local w = {}
  for i, a in ipairs(args) do
    w[i] = M.q(a)
  end
  return table.concat(w, " ")
end

-- Runs the host with args; returns stdout, stderr, exit code.
function M.run(args)
  local err = os.tmpname()
  local p = io.popen(("%s %s 2>%s; echo \"rc=$?\""):format(M.q(M.host), words(args), M.q(err)))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  local e = M.slurp(err)
  os.remove(err)
  return (out:gsub("rc=%d+\n$", "")), e, rc
end

-- Starts the host in the background (stdout and stderr to log); returns its pid.
function M.spawn(args, log)
  local p = io.popen(("%s %s >%s 2>&1 & echo $!"):format(M.q(M.host), words(args), M.q(log)))
  local pid = tonumber(p:read("l"))
  p:close()
  return pid
end

-- True while the process runs.  A zombie counts as gone (it has closed every file); its parent
-- (the shell of spawn, gone already) may never reap it, so `kill -0` cannot tell.
function M.alive(pid)
  local f = io.open(("/proc/%d/stat"):format(pid), "r")
  if not f then
    return false
  end
  local st = f:read("a")
  f:close()
  local state = st:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

function M.kill9(pid)
  os.execute(("kill -9 %d 2>/dev/null"):format(pid))
  -- Wait until it is gone so the files it held are final.
  for _ = 1, 500 do
    if not M.alive(pid) then
      return
    end
    os.execute("sleep 0.01")
  end
end

function M.sleep(s)
  os.execute(("sleep %.3f"):format(s))
end

return M
