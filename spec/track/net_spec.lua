-- graphids.core.http_request / append_file / wall_time / sleep as Lua sees them, and the
-- `graphids track` command through the host program (usage, help, exit codes).
local core = require "graphids.core"
local fixture = require "track.support.fixture"

local build = os.getenv("GRAPHIDS_BUILD") or "build"
local host = build .. "/bin/graphids"

local function run(cmd)
  local p = io.popen(cmd .. " 2>&1; echo \"@rc=$?\"")
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("@rc=(%d+)"))
  return rc, out:gsub("@rc=%d+\n?$", "")
end

describe("graphids.core.http_request", function()
  it("returns nil, message, code when nothing answers", function()
    local s, msg, code = core.http_request({ url = "http://127.0.0.1:1/x", method = "POST", body = "{}",
      headers = { ["Content-Type"] = "application/json" }, timeout = 5 })
    assert.is_nil(s)
    assert.equal("EIO", code)
    assert.matches("^EIO: http: POST http://127.0.0.1:1/x: Couldn't connect", msg)
    local s2, msg2, code2 = core.http_request({ url = "gopher://x" })
    assert.is_nil(s2)
    assert.equal("EINVAL", code2)
    assert.matches("must start with http:// or https://", msg2)
  end)

  it("refuses misuse: unknown options, no url, non-string headers or body, bad timeout", function()
    assert.has_error(function() core.http_request({ url = "http://x", colour = 1 }) end)
    assert.has_error(function() core.http_request({ method = "GET" }) end, "http_request: 'url' is required")
    assert.has_error(function() core.http_request({ url = "http://x", headers = { A = 1 } }) end)
    assert.has_error(function() core.http_request({ url = "http://x", body = {} }) end,
      "http_request: 'body' must be a string, got table")
    assert.has_error(function() core.http_request({ url = "http://x", timeout = 0 }) end,
      "http_request: 'timeout' must be > 0 seconds")
    assert.has_error(function() core.http_request("http://x") end)
  end)
end)

describe("graphids.core.append_file and clocks", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("appends whole records and reports a bad path", function()
    assert.is_true(core.append_file(dir .. "/a", "x\n"))
    assert.is_true(core.append_file(dir .. "/a", "y\n", { sync = true }))
    local f = io.open(dir .. "/a")
    assert.equal("x\ny\n", f:read("a"))
    f:close()
    local ok, msg, code = core.append_file(dir .. "/no/such/a", "x")
    assert.is_nil(ok)
    assert.equal("EIO", code)
    assert.matches("cannot open '" .. dir:gsub("%p", "%%%0") .. "/no/such/a'", msg)
    assert.has_error(function() core.append_file(dir .. "/a", "x", { fsync = true }) end)
  end)

  it("gives the wall clock in seconds with sub-second resolution, and sleeps", function()
    local t0 = core.wall_time()
    assert.is_true(math.abs(t0 - os.time()) < 2)
    core.sleep(0.05)
    local dt = core.wall_time() - t0
    assert.is_true(dt >= 0.045 and dt < 2, "slept " .. dt)
    assert.has_error(function() core.sleep(-1) end)
    assert.equal("string", type(core.hostname()))
  end)

  it("stops a tracking retry wait at Ctrl-C: the event is spooled and the program ends", function()
    -- a store with nothing listening and a 60 s wait before the second retry; SIGINT lands in it
    local f = assert(io.open(dir .. "/fit.lua", "w"))
    f:write([[
      local track = require "graphids.track"
      track.start_fit_run(arg[1], { uri = "http://127.0.0.1:1", experiment = "e",
        store_opts = { max_retries = 5, backoff_factor = 30, backoff_jitter = 0,
          notify = function() io.stdout:write("waiting\n"); io.stdout:flush() end } })
      print("went on")
    ]])
    f:close()
    local t0 = core.wall_time()
    local exe = host:sub(1, 1) == "/" and host or core.getcwd() .. "/" .. host
    local rc, out = run(string.format("cd %s && (timeout 50 %s run %s/fit.lua %s/run & pid=$!; " ..
      "for i in $(seq 100); do grep -q waiting %s/out 2>/dev/null && break; sleep 0.1; done; sleep 0.5; " ..
      "kill -INT $pid; wait $pid) > %s/out 2>&1; rc=$?; cat %s/out; exit $rc", dir, exe,
      dir, dir, dir, dir, dir))
    local dt = core.wall_time() - t0
    assert.is_true(dt < 20, string.format("took %.1f s to stop: %s", dt, out))
    assert.not_equal(0, rc)
    assert.matches("interrupted", out)
    assert.is_nil(out:find("went on", 1, true))
    -- the event the interrupt cut off is kept for `graphids track sync`
    local sp = assert(io.open(dir .. "/run/tracking_spool.jsonl"))
    assert.matches('"op":"create_run"', sp:read("a"))
    sp:close()
  end)
end)

describe("graphids track (command)", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("prints help and exits 0; usage errors exit 2", function()
    local rc, out = run(host .. " track --help")
    assert.equal(0, rc)
    assert.matches("usage: graphids track sync RUN_DIR", out)
    rc, out = run(host .. " track")
    assert.equal(2, rc)
    assert.matches("usage: graphids track sync", out)
    rc, out = run(host .. " track sync")
    assert.equal(2, rc)
    assert.matches("missing RUN_DIR", out)
    rc, out = run(host .. " track sync --uri")
    assert.equal(2, rc)
    assert.matches("%-%-uri needs a value", out)
    rc, out = run(host .. " track sync x --uri ''")
    assert.equal(2, rc)
    assert.matches("%-%-uri is empty", out)
    -- the options parse as every command's: --uri=URI, and a --uri given twice is named
    rc, out = run(host .. " track sync x --uri a --uri b")
    assert.equal(2, rc)
    assert.matches("%-%-uri is given twice; give it once", out)
    rc, out = run(host .. " track sync " .. dir .. " --uri=file:" .. dir .. "/mlruns")
    assert.equal(0, rc, out)
    assert.matches("0 events delivered", out)
    rc, out = run(host .. " track push x")
    assert.equal(2, rc)
    assert.matches("unknown subcommand 'push'", out)
  end)

  it("has nothing to do for a run dir without a spool, and exits 1 naming a corrupt one", function()
    local rc, out = run(host .. " track sync " .. dir)
    assert.equal(0, rc)
    assert.matches("0 events delivered", out)
    local f = io.open(dir .. "/tracking_spool.jsonl", "w")
    f:write('{"op":"update_run","run_key":"ab12","status":"FINISHED"}\nnot json\n')
    f:close()
    rc, out = run(host .. " track sync " .. dir)
    assert.equal(1, rc)
    assert.matches("tracking_spool.jsonl:2: not a spooled tracking event", out)
    assert.matches("%(0 delivered, 2 left in", out) -- what the file holds, not 0
    f = io.open(dir .. "/tracking_spool.jsonl")
    assert.equal('{"op":"update_run","run_key":"ab12","status":"FINISHED"}\nnot json\n', f:read("a"))
    f:close()
    -- a spool path that is a folder is named, not a Lua traceback
    os.remove(dir .. "/tracking_spool.jsonl")
    os.execute("mkdir " .. dir .. "/tracking_spool.jsonl")
    rc, out = run(host .. " track sync " .. dir)
    assert.equal(1, rc)
    assert.matches("tracking_spool.jsonl is not a file", out)
    assert.is_nil(out:find("traceback", 1, true))
    -- an empty spool file is removed
    os.execute("rmdir " .. dir .. "/tracking_spool.jsonl && touch " .. dir .. "/tracking_spool.jsonl")
    rc = run(host .. " track sync " .. dir)
    assert.equal(0, rc)
    assert.is_nil(io.open(dir .. "/tracking_spool.jsonl"))
  end)

  it("waits for a server that is down once, not once per run dir", function()
    local spool = require "graphids.track.spool"
    local url, dirs = "http://127.0.0.1:1", {}
    for i = 1, 3 do
      dirs[i] = dir .. "/run" .. i
      assert(spool.append(dirs[i], { op = "create_run", run_key = string.rep(tostring(i), 32), uri = url,
        experiment = "e", tags = {} }))
    end
    local rc, out = run("MLFLOW_HTTP_REQUEST_MAX_RETRIES=1 MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR=0 " .. host ..
      " track sync " .. table.concat(dirs, " "))
    assert.equal(1, rc, out)
    local _, tries = out:gsub("retrying up to", "")
    assert.equal(1, tries, out) -- the first run dir's
    assert.matches("run1: event 1 %(create_run%): .*Couldn't connect", out)
    for i = 2, 3 do
      assert.matches("run" .. i .. ": event 1 %(create_run%): not sent: the store " .. url ..
        " was down earlier in this sync %(0 delivered, 1 left", out)
    end
    assert.matches("3 run dirs, 0 events delivered, 3 left", out)
  end)
end)
