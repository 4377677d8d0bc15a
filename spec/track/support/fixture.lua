-- spec/track/support/fixture.lua -- the set-up the tracking specs share: a fresh temporary folder
-- for each test, a REAL `mlflow server` (spec/track/mlflow_server.lua) for a describe block,
-- and what a function writes to stderr or stdout.
--   local fixture = require "track.support.fixture"
--   describe("...", function()
--     local dir
--     fixture.tmpdir_each(function(d) dir = d end)  -- made before each test, removed after it
--   describe("... (real mlflow server)", function()
--     local srv, why, dir                         -- srv nil (why says why) without MLflow
--     fixture.server(function(s, w, d) srv, why, dir = s, w, d end)  -- one server and folder
--   local text = fixture.stderr_of(fn)            -- fn runs (and must not raise), stderr kept
--   local text, res = fixture.stdout_of(fn)       -- and fn's first result
-- The setters hand the values to the spec's own locals, so the tests read as before: busted
-- makes them in its set-up hooks, after the describe block has run.
local server = require "track.mlflow_server"

local M = {}

-- busted's hooks: they live in the spec file's environment, not in _G; require "busted" gives
-- them to a module.
local function hook(name)
  return require("busted")[name]
end

function M.tmpdir_each(set)
  local dir
  hook("before_each")(function()
    dir = server.tmpdir()
    set(dir)
  end)
  hook("after_each")(function()
    os.execute("rm -rf " .. dir)
  end)
end

-- One server for the whole block (starting one takes seconds), and a folder beside it.
function M.server(set)
  local srv, why, dir
  hook("setup")(function()
    srv, why = server.start()
    dir = server.tmpdir()
    set(srv, why, dir)
  end)
  hook("teardown")(function()
    server.stop(srv)
    if dir then os.execute("rm -rf " .. dir) end
  end)
end

-- Runs fn with io[stream] collecting what is written to it; the text and fn's first result.
local function captured(stream, fn)
  local old, buf = io[stream], {}
  io[stream] = { write = function(_, ...) for _, s in ipairs({ ... }) do buf[#buf + 1] = tostring(s) end end } -- luacheck: ignore
  local ok, res = pcall(fn)
  io[stream] = old -- luacheck: ignore
  assert(ok, res)
  return table.concat(buf), res
end

function M.stderr_of(fn)
  return (captured("stderr", fn))
end

function M.stdout_of(fn)
  return captured("stdout", fn)
end

return M
