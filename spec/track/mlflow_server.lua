-- spec/track/mlflow_server.lua -- a REAL `mlflow server` for the tracking specs, and MLflow's
-- own Python client to read back what graphids sent.
--   local srv, why = server.start()      -- nil, reason when MLflow cannot be installed/started
--   local v = server.query(srv.url, "out = [r.info.run_name for r in c.search_runs(['0'])]")
--   local proxy = server.proxy(srv, 2, 503)  -- a flaky proxy in front of it (proxy.url)
--   server.stop(srv)
-- MLflow lives in its own cached venv (tools/mlflow-venv.sh); the server uses a SQLite store
-- in a temporary folder on a free loopback port.  A fresh SQLite store takes ~20 s of
-- migrations, so the first migrated (empty) database is kept beside the venv and copied.
local core = require "graphids.core"
local json = require "graphids.json"

local M = {}

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local ok = p:close()
  return ok and out or nil, out
end
M.sh = sh

function M.python()
  if M._python ~= nil then return M._python or nil, M._why end
  local out = sh("tools/mlflow-venv.sh 2>&1")
  local py = out and out:match("([^\n]+)\n?$")
  if not py or not py:match("/python[%d.]*$") then
    M._python, M._why = false, "MLflow could not be installed (tools/mlflow-venv.sh failed)"
    return nil, M._why
  end
  M._python = py
  return py
end

function M.tmpdir()
  return (sh("mktemp -d /tmp/graphids-track-XXXXXX"):gsub("%s+$", ""))
end

function M.free_port(py)
  local out = sh(py .. [[ -c "import socket;s=socket.socket();s.bind(('127.0.0.1',0));]] ..
    [[print(s.getsockname()[1])"]])
  return tonumber(out)
end

-- Starts cmd in its own session (so stop can end it and its workers by process group);
-- returns the pid.
function M.spawn(cmd, log)
  local out = sh(string.format("setsid sh -c 'exec %s' > %s 2>&1 < /dev/null & echo $!", cmd, log))
  return tonumber(out)
end

-- Ends the process group started by spawn: TERM, then KILL for what is left after 5 s (the
-- server's job consumers can outlive a TERM).
function M.kill(pid)
  if not pid then return end
  os.execute(string.format("kill -TERM -%d 2>/dev/null; for i in $(seq 50); do " ..
    "kill -0 -%d 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL -%d 2>/dev/null", pid, pid, pid))
end

function M.wait_health(url, timeout)
  local t_end = core.wall_time() + timeout
  while core.wall_time() < t_end do
    local status, body = core.http_request { url = url .. "/health", timeout = 2 }
    if status == 200 and body:match("OK") then return true end
    core.sleep(0.25)
  end
  return false
end

function M.start()
  local py, why = M.python()
  if not py then return nil, why end
  local dir = M.tmpdir()
  local port = M.free_port(py)
  -- the migrated database belongs to one MLflow version (its schema head): keyed by it
  local venv = py:gsub("/bin/python[%d.]*$", "")
  local dist = sh("ls -d " .. venv .. "/lib/python*/site-packages/mlflow-*.dist-info 2>/dev/null") or ""
  local version = dist:match("mlflow%-([^/]-)%.dist%-info") or "unknown"
  local template = venv .. "/graphids-migrated-" .. version .. ".db"
  local fresh = not core.stat(template)
  if not fresh then os.execute(string.format("cp %s %s/mlflow.db", template, dir)) end
  local url = "http://127.0.0.1:" .. port
  -- the query helper imports mlflow while the server starts
  local qpid = M.spawn(string.format("%s spec/track/mlflow_query.py %s/query.port", py, dir),
    dir .. "/query.log")
  local pid = M.spawn(string.format("%s -m mlflow server --backend-store-uri sqlite:///%s/mlflow.db " ..
    "--default-artifact-root %s/art --host 127.0.0.1 --port %d --workers 1", py, dir, dir, port),
    dir .. "/server.log")
  if not M.wait_health(url, 90) then
    M.kill(pid)
    M.kill(qpid)
    local log = io.open(dir .. "/server.log")
    local text = log and log:read("a") or ""
    if log then log:close() end
    return nil, "mlflow server did not become healthy in 90 s: " .. text:sub(-400)
  end
  if fresh then
    local tmp = template .. "." .. dir:match("[^/]+$") -- unique: specs may run side by side
    os.execute(string.format("cp %s/mlflow.db %s && mv %s %s", dir, tmp, tmp, template))
  end
  local srv = { url = url, pid = pid, dir = dir, python = py, query_pid = qpid }
  for _ = 1, 600 do
    local f = io.open(dir .. "/query.port")
    if f then
      srv.query_url = "http://127.0.0.1:" .. f:read("n")
      f:close()
      break
    end
    core.sleep(0.1)
  end
  M.current = srv
  return srv
end

function M.stop(srv)
  if srv then
    M.kill(srv.pid)
    M.kill(srv.query_pid)
    os.execute("rm -rf " .. srv.dir)
    if M.current == srv then M.current = nil end
  end
end

-- A proxy in front of srv (spec/track/flaky_proxy.py) failing `failures` requests (-1: all)
-- with `status`; body (JSON) is then the answer, path limits the failures to the requests whose
-- path contains it, and forward = "forward" sends them to srv all the same (an answer lost on
-- the way back).  {url, port, pid (server.kill it), log (one line per request)}.
local proxies = 0
function M.proxy(srv, failures, status, body, path, forward)
  proxies = proxies + 1
  local pf = srv.dir .. "/proxy" .. proxies
  -- (spawn runs the command inside '...': double quotes here)
  local extra = body and string.format(' "%s" "%s" %s', (body:gsub('"', '\\"')), path or "",
    forward or "") or ""
  local pid = M.spawn(string.format("%s spec/track/flaky_proxy.py %s %s %d %d%s", srv.python, pf,
    srv.url, failures, status, extra), pf .. ".out")
  for _ = 1, 100 do
    if core.stat(pf) then break end
    core.sleep(0.05)
  end
  local f = assert(io.open(pf))
  local port = f:read("n")
  f:close()
  return { url = "http://127.0.0.1:" .. port, port = port, pid = pid, log = pf .. ".log" }
end

-- Runs python code with `c = mlflow.MlflowClient(uri)` bound and returns `out` (decoded JSON;
-- NaN as "NaN").  Through the started server's query helper when there is one (no Python
-- start-up per query), else in a new Python process (env: variable assignments for it).
function M.query(uri, code, env)
  local srv = M.current
  if srv and srv.query_url and env == nil then
    local status, body = core.http_request { method = "POST", url = srv.query_url,
      body = json.encode({ uri = uri, code = code }), timeout = 120 }
    if status ~= 200 then error("MLflow query failed:\n" .. tostring(body), 2) end
    return json.decode(body)
  end
  local py = assert(M.python())
  local dir = M.tmpdir()
  local f = assert(io.open(dir .. "/q.py", "w"))
  f:write("import json, math, warnings\nwarnings.simplefilter('ignore')\nimport mlflow\n",
    "c = mlflow.MlflowClient(", string.format("%q", uri), ")\n", code, "\n",
    "print('@@' + json.dumps(out, sort_keys=True, default=str).replace('NaN', '\"NaN\"'))\n")
  f:close()
  local out, err = sh(string.format("%s %s %s/q.py 2>&1", env or "", py, dir))
  os.execute("rm -rf " .. dir)
  local js = (out or err):match("@@([^\n]*)")
  if not js then error("MLflow query failed:\n" .. tostring(err), 2) end
  return json.decode(js)
end

return M
