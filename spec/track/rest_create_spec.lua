-- graphids.track.rest's runs/create retries against scripted answers (no server): a create
-- whose answer was lost is never sent again before a lookup has answered "no such run".
local core = require "graphids.core"
local json = require "graphids.json"
local rest = require "graphids.track.rest"

local KEY = "0123456789abcdef0123456789abcdef"

-- Runs fn with core.http_request answering from script (a list of {endpoint, status, body}
-- or {endpoint, nil, message}, in order); returns fn's results and the endpoints asked.
local function scripted(script, fn)
  local real, asked = core.http_request, {}
  core.http_request = function(req) -- luacheck: ignore
    local endpoint = req.url:match("/api/2%.0/mlflow/([^?]+)")
    asked[#asked + 1] = endpoint
    local step = table.remove(script, 1)
    assert(step, "unexpected request " .. endpoint)
    assert.equal(step[1], endpoint)
    if step[2] == nil then return nil, step[3], "EIO" end
    return step[2], step[3], {}
  end
  local res = table.pack(pcall(fn))
  core.http_request = real -- luacheck: ignore
  assert(res[1], res[2])
  return asked, table.unpack(res, 2, res.n)
end

local function store()
  return assert(rest.new("http://mlflow.invalid:5000", { max_retries = 3, backoff_factor = 0,
    backoff_jitter = 0, sleep = function() end, notify = function() end }))
end

local function create(s)
  return s:create_run { experiment_id = "1", run_name = "r", start_time = 1,
    tags = { { key = "graphids.run_key", value = KEY } } }
end

local NONE = json.encode({})
local FOUND = json.encode({ runs = { { info = { run_id = "abc" } } } })
local UNAVAILABLE = '{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "busy"}'

describe("graphids.track.rest create_run", function()
  it("looks the run up again, instead of creating it again, when the lookup fails", function()
    local asked, id = scripted({ { "runs/create", 503, UNAVAILABLE }, { "runs/search", 503, UNAVAILABLE },
      { "runs/search", 200, FOUND } }, function() return create(store()) end)
    assert.equal("abc", id)
    assert.same({ "runs/create", "runs/search", "runs/search" }, asked)
  end)

  it("creates again once a lookup has answered that there is no such run", function()
    local asked, id = scripted({ { "runs/create", 503, UNAVAILABLE }, { "runs/search", 200, NONE },
      { "runs/create", 200, json.encode({ run = { info = { run_id = "abc" } } }) } },
      function() return create(store()) end)
    assert.equal("abc", id)
    assert.same({ "runs/create", "runs/search", "runs/create" }, asked)
  end)

  it("never sends a create again after a timeout, which may still be on its way", function()
    local timeout = "http: POST x: Timeout was reached (curl 28: Operation timed out)"
    local asked, id, err = scripted({ { "runs/create", nil, timeout }, { "runs/search", 200, NONE },
      { "runs/search", 200, NONE }, { "runs/search", 200, NONE } }, function() return create(store()) end)
    assert.is_nil(id)
    assert.matches("curl 28.*after 3 retries", err)
    assert.same({ "runs/create", "runs/search", "runs/search", "runs/search" }, asked)
  end)
end)
