-- graphids.track.mlflow / rest without a server: keys, values, flattening, batching limits,
-- backoff, auth, URI selection.
local json = require "graphids.json"
local mlflow = require "graphids.track.mlflow"
local Rest = require "graphids.track.rest"

describe("graphids.track.mlflow", function()
  it("sanitises keys to MLflow's rules", function()
    assert.equal("val/f1_at_0.5", mlflow.sanitize_key("val/f1@0.5"))
    assert.equal("a/b", mlflow.sanitize_key("/a//./b/"))
    assert.equal("x/y", mlflow.sanitize_key("x/../y"))
    -- letters and digits of any script are key characters to MLflow (Python's \w); anything else
    -- is one "_" per character, not per byte
    assert.equal("café_ok-1 :2", mlflow.sanitize_key("café!ok-1 :2"))
    assert.equal("ключ/精度_²", mlflow.sanitize_key("ключ/精度€²"))
    assert.equal("emoji_x", mlflow.sanitize_key("emoji😀x"))
    assert.equal("x__y", mlflow.sanitize_key("x\xff\xfey")) -- bytes that are not UTF-8: one each
    -- Python's \w has no combining marks: MLflow refuses them
    assert.equal("ह_न_द_", mlflow.sanitize_key("हिन्दी"))
    -- 250 characters, not bytes, and never half a character
    assert.equal(string.rep("x", 250), mlflow.sanitize_key(string.rep("x", 300)))
    -- and each path segment at most 255 bytes (a file name): 127 two-byte, 85 three-byte
    -- characters, cut at a character boundary
    assert.equal(string.rep("я", 127), mlflow.sanitize_key(string.rep("я", 200)))
    assert.equal(string.rep("精", 85), mlflow.sanitize_key(string.rep("精", 100)))
    assert.equal("a/" .. string.rep("я", 127) .. "/b",
      mlflow.sanitize_key("a/" .. string.rep("я", 130) .. "/b"))
    assert.equal("x" .. string.rep("я", 127), mlflow.sanitize_key("x" .. string.rep("я", 200)))
    assert.matches("has a path part of 256 bytes", mlflow.key_problem(string.rep("я", 128)))
    assert.is_nil(mlflow.key_problem("a/" .. string.rep("я", 127)))
    assert.is_nil(mlflow.key_problem("ключ/精度"))
    assert.matches("holds the character \"€\"", mlflow.key_problem("a€"))
    assert.matches("not UTF%-8", mlflow.key_problem("a\xff"))
    assert.equal("_", mlflow.sanitize_key("//"))
    -- MLflow refuses a key whose path begins with "..": it names something outside the run
    assert.equal("_..foo", mlflow.sanitize_key("..foo"))
    assert.equal("_...", mlflow.sanitize_key("..."))
    assert.equal("_..a/b", mlflow.sanitize_key("..a/b"))
    for _, k in ipairs({ "val/f1@0.5", "/a//./b/", "..foo", "...", string.rep("..x/", 100) }) do
      assert.is_nil(mlflow.key_problem(mlflow.sanitize_key(k)), k)
    end
    assert.matches("not a plain relative path", mlflow.key_problem("..foo"))
    assert.matches("holds the character", mlflow.key_problem("a@b"))
  end)

  it("makes a relative store path absolute from the process's folder, not a stale $PWD", function()
    local core = require "graphids.core"
    assert.equal(core.getcwd() .. "/x/y", mlflow.absolute_path("./x/y"))
    local host = (os.getenv("GRAPHIDS_BUILD") or "build") .. "/bin/graphids"
    if host:sub(1, 1) ~= "/" then host = core.getcwd() .. "/" .. host end
    local p = assert(io.popen("cd /tmp && PWD=/elsewhere " .. host ..
      " run - <<'EOF'\nio.write(require('graphids.track.mlflow').absolute_path('lake/mlruns'))\nEOF"))
    local out = p:read("a")
    p:close()
    assert.equal("/tmp/lake/mlruns", out)
    assert.equal(250, #mlflow.sanitize_key(string.rep("k", 300)))
    assert.matches("^[%w_%./ :%-]+$", mlflow.sanitize_key("\0\n\t%$#"))
    -- the cut to 250 can leave a "." or ".." segment at the end: MLflow refuses those keys
    local x = string.rep("x", 247)
    assert.equal(x, mlflow.sanitize_key(x .. "/..y"))
    assert.equal("a/" .. string.rep("x", 246), mlflow.sanitize_key("a/" .. string.rep("x", 246) .. "/.y"))
    for _, k in ipairs({ x .. "/..y", string.rep("x", 248) .. "/.y", string.rep("a/", 124) .. "..b" }) do
      local s = mlflow.sanitize_key(k)
      assert.is_true(#s <= 250)
      for seg in (s .. "/"):gmatch("([^/]*)/") do
        assert.is_true(seg ~= "" and seg ~= "." and seg ~= "..", s)
      end
    end
  end)

  it("replaces bytes that are not UTF-8 with U+FFFD (JSON cannot carry them)", function()
    assert.equal("caf\u{FFFD}", mlflow.utf8_clean("caf\xe9"))
    local r = string.rep("\u{FFFD}", 2)
    assert.equal("a" .. r .. "b" .. r, mlflow.utf8_clean("a\xff\xc3b\xed\xa0")) -- each bad byte
    assert.equal("é\u{1F600}", mlflow.utf8_clean("é\u{1F600}"))
    local p = mlflow.flatten({ name = "caf\xe9", list = { "\xff" } })
    assert.same({ { key = "list", value = '["\u{FFFD}"]' }, { key = "name", value = "caf\u{FFFD}" } }, p)
    assert.equal("/lake/\u{FFFD}", mlflow.tag_list({ ["graphids.run_dir"] = "/lake/\xe9" })[1].value)
    assert.truthy(json.encode(mlflow.tag_list({ x = "\xe9\xe8" })))
  end)

  it("cuts values by code points, not bytes", function()
    local s = string.rep("é", 10)
    assert.equal(string.rep("é", 4), mlflow.truncate(s, 4))
    assert.equal(s, mlflow.truncate(s, 10))
    assert.equal("ab", mlflow.truncate("ab\xff", 2))
  end)

  it("prints floats round-trippably and non-finite values as Python does", function()
    assert.equal("0.1", mlflow.float_text(0.1))
    assert.equal("1.0", mlflow.float_text(1.0))
    assert.equal("1e+300", mlflow.float_text(1e300))
    assert.equal(1 / 3, tonumber(mlflow.float_text(1 / 3)))
    assert.same({ "nan", "inf", "-inf" }, { mlflow.float_text(0 / 0), mlflow.float_text(math.huge),
      mlflow.float_text(-math.huge) })
  end)

  it("flattens nested configs with dots, sorted, arrays as JSON", function()
    local p = mlflow.flatten({ model = { hidden = 64, heads = { 4, 4 }, act = json.null },
      lr = 0.001, name = "gat", ok = true, empty = {} })
    assert.same({
      { key = "empty", value = "{}" }, { key = "lr", value = "0.001" },
      { key = "model.act", value = "" }, { key = "model.heads", value = "[4,4]" },
      { key = "model.hidden", value = "64" }, { key = "name", value = "gat" },
      { key = "ok", value = "true" } }, p)
    local long = mlflow.flatten({ v = string.rep("x", 7000) })
    assert.equal(6000, #long[1].value)
  end)

  it("keeps keys unique after sanitising (MLflow refuses repeated param keys)", function()
    local p = mlflow.flatten({ ["a@b"] = 1, a_at_b = 2, ["a#b"] = 3, a_b = 4 })
    local keys = {}
    for _, e in ipairs(p) do keys[#keys + 1] = e.key .. "=" .. e.value end
    assert.same({ "a_b=3", "a_at_b=1", "a_at_b_2=2", "a_b_2=4" }, keys)
    local m = mlflow.metric_list({ ["x@1"] = 1, x_at_1 = 2 }, 0, 1)
    assert.same({ "x_at_1", "x_at_1_2" }, { m[1].key, m[2].key })
    -- a key at the file-name limit keeps its suffix: the cut makes room for it
    local ya = string.rep("я", 130)
    m = mlflow.metric_list({ [ya .. "@"] = 1, [ya .. "#"] = 2 }, 0, 1)
    assert.same({ string.rep("я", 127), string.rep("я", 126) .. "_2" }, { m[1].key, m[2].key })
    for _, e in ipairs(m) do assert.is_nil(mlflow.key_problem(e.key)) end
  end)

  it("keeps only numeric metrics, with the step and one timestamp", function()
    local m = mlflow.metric_list({ loss = 0.5, n = 3, name = "x", flag = true }, 4, 123)
    assert.same({ { key = "loss", value = 0.5, timestamp = 123, step = 4 },
      { key = "n", value = 3.0, timestamp = 123, step = 4 } }, m)
  end)

  it("names the user as MLflow's getpass.getuser() does", function()
    local real, core = os.getenv, require "graphids.core"
    local function user(env)
      os.getenv = function(k) return env[k] end -- luacheck: ignore
      local ok, u = pcall(mlflow.user_name)
      local tags = ok and require("graphids.track").identity_tags()
      os.getenv = real -- luacheck: ignore
      assert(ok, u)
      assert.equal(u, tags["mlflow.user"])
      return u
    end
    assert.equal("l", user({ USER = "u", LOGNAME = "l", USERNAME = "n" }))
    assert.equal("u", user({ USER = "u", LOGNAME = "", USERNAME = "n" }))
    assert.equal("x", user({ LNAME = "x", USERNAME = "n" }))
    assert.equal("n", user({ USERNAME = "n" }))
    -- none set: the password database's name of the user id
    local p = io.popen("id -un")
    local want = p:read("l")
    p:close()
    assert.equal(want, core.user_name())
    assert.equal(want, user({}))
  end)

  it("refuses a metric step that is not a whole number, at the call", function()
    assert.equal(3, mlflow.metric_list({ x = 1 }, 3.0)[1].step)
    assert.equal(0, mlflow.metric_list({ x = 1 })[1].step)
    local run = require("graphids.track").start_fit_run(nil, { experiment = "e" }) -- (logs nothing)
    for _, c in ipairs({ { 2.5, "2.5" }, { 1e20, "1e+20" }, { 0 / 0, "NaN" }, { "3", "string" } }) do
      local step, want = c[1], "a metric step must be a whole number (a 64-bit integer), got " .. c[2]
      local ok, err = pcall(function() mlflow.metric_list({ x = 1 }, step) end)
      assert.is_false(ok)
      assert.matches("mlflow_spec.lua:%d+: mlflow.metric_list: " .. want:gsub("[%(%)%-%+]", "%%%0"), err)
      ok, err = pcall(function() run:log_metrics({ x = 1 }, step) end)
      assert.is_false(ok)
      assert.matches("mlflow_spec.lua:%d+: Run:log_metrics: " .. want:gsub("[%(%)%-%+]", "%%%0"), err)
    end
  end)

  it("chooses the store from the URI", function()
    local rest = assert(mlflow.store({ uri = "http://h:5000/" }))
    assert.equal("graphids.track.RestStore", getmetatable(rest).__name)
    assert.equal("http://h:5000/api/2.0/mlflow/", rest.base)
    local fs = assert(mlflow.store({ uri = "file:///tmp/x/mlruns" }))
    assert.equal("/tmp/x/mlruns", fs.root)
    assert.equal("/tmp/y", assert(mlflow.store({ uri = "/tmp/y" })).root)
    assert.equal("/tmp/lake/mlruns", mlflow.store({ uri = "", lake_root = "/tmp/lake" }).root)
    local s, err = mlflow.store({ uri = "sqlite:///mlflow.db" })
    assert.is_nil(s)
    assert.matches("not supported: use http%(s%)://", err)
  end)

  it("refuses a mistyped URL instead of taking it as a FileStore path", function()
    for uri, why in pairs({
      ["http://"] = "has no host", ["https:///x"] = "has no host", ["http://?a=1"] = "has no host",
      ["http//127.0.0.1:5077"] = "looks like a mistyped URL", ["HTTPS//h"] = "looks like a mistyped URL",
      ["http:/127.0.0.1:5077"] = "looks like a mistyped URL",
    }) do
      local kind, err = mlflow.classify(uri)
      assert.is_nil(kind, uri)
      assert.equal(string.format("tracking URI '%s' %s: use http(s)://host:port", uri, why), err)
      assert.is_nil(mlflow.store({ uri = uri }))
    end
    -- a password in a mistyped URL is not echoed either
    for _, uri in ipairs({ "http//alice:s3cret@h:5000/x", "https:/alice:s3cret@h", "http//s3cret@h",
      "http//u:s3c/ret@h", "http//u:s3c#ret@h", "http//u:s3c?ret@h", "http:///u:s3cret@h",
      "http:u:s3cret@h:5000", "postgresql:u:s3cret@h" }) do
      local _, e = mlflow.classify(uri)
      assert.matches("tracking URI '.*h.*' ", e)
      assert.is_nil(e:find("s3c", 1, true), e)
      local r, e2 = Rest.new(uri)
      assert.is_nil(r)
      assert.is_nil(tostring(e2):find("s3c", 1, true), e2)
    end
    assert.equal("tracking URI 'http//h:5000/x' looks like a mistyped URL: use http(s)://host:port",
      select(2, mlflow.classify("http//alice:s3cret@h:5000/x")))
    local r, err = Rest.new("http://")
    assert.is_nil(r)
    assert.matches("has no host", err)
    -- paths stay paths, even odd ones
    for _, uri in ipairs({ "mlruns", "./http/x", "httpdocs//mlruns", "/abs/p", "file:rel", "file:///abs" }) do
      assert.equal("file", (mlflow.classify(uri)), uri)
    end
    assert.equal("rest", (mlflow.classify("http://h:5000/prefix")))
  end)

  it("reads a file: URI's path as MLflow does: percent-decoded, local host, no query or fragment", function()
    for uri, path in pairs({ ["file:///tmp/x/sp%20ace/mlruns"] = "/tmp/x/sp ace/mlruns",
      ["file:/tmp/f%23g/m#frag"] = "/tmp/f#g/m", ["file:/tmp/q/m?x=1"] = "/tmp/q/m",
      ["file://localhost/abs/m"] = "/abs/m", ["file://LocalHost:80/abs/m"] = "/abs/m",
      ["file://127.0.0.1/abs/m"] = "/abs/m", ["file:rel%25/m"] = "rel%/m", ["FILE:/abs/m"] = "/abs/m" }) do
      assert.same({ "file", path }, { mlflow.classify(uri) }, uri)
    end
    for uri, why in pairs({
      ["file://otherhost/tmp/x"] = "names the host 'otherhost': a FileStore must be local",
      ["file://localhost"] = "has no path", ["file:/a%00b"] = "holds a NUL byte" }) do
      local kind, err = mlflow.classify(uri)
      assert.is_nil(kind, uri)
      assert.truthy(err:find("tracking URI '" .. uri .. "' " .. why, 1, true), err)
    end
    -- made absolute, a decoded path is escaped again, so it reads back as the same folder
    local cwd = os.getenv("PWD")
    local abs = mlflow.absolute_uri("file:a%2520b%3Fc%23d")
    assert.equal("file:" .. cwd .. "/a%2520b%3Fc%23d", abs)
    assert.same({ "file", cwd .. "/a%20b?c#d" }, { mlflow.classify(abs) })
  end)

  it("makes a relative FileStore URI absolute, leaving the others as they are", function()
    local cwd = os.getenv("PWD")
    assert.equal(cwd .. "/lake/mlruns", mlflow.absolute_uri("lake/mlruns"))
    assert.equal("file:" .. cwd .. "/m", mlflow.absolute_uri("file:m"))
    for _, uri in ipairs({ "/abs/m", "file:/abs/m", "file:///abs/m", "http://h:1", "sqlite:///x" }) do
      assert.equal(uri, mlflow.absolute_uri(uri))
    end
  end)

  it("tells a refused request from a store that is down", function()
    assert.is_true(mlflow.refused("INVALID_PARAMETER_VALUE", 400))
    assert.is_true(mlflow.refused("RESOURCE_DOES_NOT_EXIST", 404))
    for _, c in ipairs({ { "ENDPOINT_NOT_FOUND", 404 }, { "HTTP_404", 404 }, { "UNAUTHENTICATED", 401 },
      { "PERMISSION_DENIED", 403 }, { "HTTP_408", 408 }, { "REQUEST_LIMIT_EXCEEDED", 429 },
      { "INTERNAL_ERROR", 500 }, { "CONNECTION_ERROR", nil }, { "BAD_RESPONSE", 200 } }) do
      assert.is_false(mlflow.refused(c[1], c[2]), c[1])
    end
  end)
end)

describe("graphids.track.rest", function()
  it("splits log-batch requests within MLflow's limits, in order", function()
    local metrics, params, tags = {}, {}, {}
    for i = 1, 2500 do metrics[i] = { key = "m" .. i, value = i, timestamp = 1, step = 0 } end
    for i = 1, 250 do params[i] = { key = "p" .. i, value = "v" } end
    for i = 1, 101 do tags[i] = { key = "t" .. i, value = "v" } end
    local chunks = Rest.split_batch({ metrics = metrics, params = params, tags = tags })
    local n = { metrics = 0, params = 0, tags = 0 }
    local last_m = 0
    for _, c in ipairs(chunks) do
      local total = 0
      for _, kind in ipairs({ "metrics", "params", "tags" }) do
        local k = c[kind] and #c[kind] or 0
        n[kind], total = n[kind] + k, total + k
      end
      assert.is_true(#(c.metrics or {}) <= 1000 and #(c.params or {}) <= 100 and #(c.tags or {}) <= 100)
      assert.is_true(total <= 1000)
      assert.is_true(#json.encode(c) < 1e6)
      for _, m in ipairs(c.metrics or {}) do
        assert.equal("m" .. (last_m + 1), m.key)
        last_m = last_m + 1
      end
    end
    assert.same({ metrics = 2500, params = 250, tags = 101 }, n)
  end)

  it("keeps each request under 1 MB when values are long", function()
    local params = {}
    for i = 1, 100 do params[i] = { key = "p" .. i, value = string.rep('"', 6000) } end -- escaped: 12 kB
    local chunks = Rest.split_batch({ params = params })
    assert.is_true(#chunks >= 2)
    for _, c in ipairs(chunks) do assert.is_true(#json.encode(c) < 1e6) end
  end)

  it("sends non-finite metric values as proto3 JSON strings", function()
    local c = Rest.split_batch({ metrics = { { key = "a", value = 0 / 0, timestamp = 1, step = 2 },
      { key = "b", value = -math.huge, timestamp = 1, step = 2 } } })[1]
    assert.same({ "NaN", "-Infinity" }, { c.metrics[1].value, c.metrics[2].value })
  end)

  it("backs off as urllib3: none before the first retry, then factor * 2^(n-1) + jitter, capped", function()
    local r = assert(Rest.new("http://127.0.0.1:1", { backoff_factor = 2, backoff_jitter = 0 }))
    assert.same({ 0, 4, 8, 16, 120 },
      { r:backoff(1), r:backoff(2), r:backoff(3), r:backoff(4), r:backoff(9) })
    assert.equal(3, r:backoff(5, "3"))
    r.backoff_jitter = 1
    local b = r:backoff(2)
    assert.is_true(b >= 4 and b < 5)
  end)

  it("retries a refused connection max_retries times, then names the endpoint", function()
    local sleeps, told = {}, {}
    local r = assert(Rest.new("http://127.0.0.1:1/", { max_retries = 3, backoff_factor = 0.5,
      backoff_jitter = 0, notify = function(line) told[#told + 1] = line end,
      sleep = function(s) sleeps[#sleeps + 1] = s end }))
    local v, err, code = r:call("POST", "runs/create", { a = 1 })
    assert.is_nil(v)
    assert.equal("CONNECTION_ERROR", code)
    assert.matches("MLflow POST runs/create: EIO: http: POST " ..
      "http://127.0.0.1:1/api/2.0/mlflow/runs/create", err)
    assert.matches("after 3 retries", err)
    assert.same({ 0, 1, 2 }, sleeps)
    -- said once, when the retries begin, with how long they may take
    assert.equal(1, #told)
    assert.truthy(told[1]:find("^MLflow POST runs/create: EIO: http: POST "), told[1])
    assert.truthy(told[1]:find("; retrying up to 3 times over about 3 s of waits, plus up to 120 s a try " ..
      "(MLFLOW_HTTP_REQUEST_MAX_RETRIES, _BACKOFF_FACTOR, _TIMEOUT)", 1, true), told[1])
  end)

  it("stops retrying when a wait is cut short by a signal (core.sleep gives false)", function()
    local sleeps = {}
    local r = assert(Rest.new("http://127.0.0.1:1/", { max_retries = 5, backoff_factor = 0.5,
      backoff_jitter = 0, notify = function() end,
      sleep = function(s)
        sleeps[#sleeps + 1] = s
        if #sleeps == 2 then return false, s / 2 end
        return true
      end }))
    local v, err, code = r:call("POST", "runs/create", { a = 1 })
    assert.is_nil(v)
    assert.equal("CONNECTION_ERROR", code)
    assert.matches("retries stopped: the wait was interrupted", err)
    assert.same({ 0, 1 }, sleeps) -- no try after the cut wait
  end)

  it("builds Basic and Bearer authorization as MLflow does", function()
    assert.equal("dXNlcjpwYXNz", Rest.base64("user:pass"))
    assert.equal("YQ==", Rest.base64("a"))
    assert.equal("YWI=", Rest.base64("ab"))
    -- Basic needs a user name and a password, both non-empty (rest_utils); else the token
    local real = os.getenv
    local function auth(env)
      os.getenv = function(k) -- luacheck: ignore
        if k:match("^MLFLOW_TRACKING_") then return env[k] end
        return real(k)
      end
      local ok, r = pcall(Rest.new, "http://127.0.0.1:1")
      os.getenv = real -- luacheck: ignore
      assert(ok and r, r)
      return r.headers.Authorization
    end
    local U, P, T = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"
    assert.equal("Basic " .. Rest.base64("u:p"), auth({ [U] = "u", [P] = "p", [T] = "tok" }))
    assert.equal("Bearer tok", auth({ [U] = "u", [P] = "", [T] = "tok" }))
    assert.equal("Bearer tok", auth({ [U] = "", [P] = "p", [T] = "tok" }))
    assert.is_nil(auth({ [U] = "u", [P] = "" }))
  end)
end)

describe("graphids.track answers and URIs (review fixes)", function()
  it("takes a 4xx whose body is not MLflow's JSON error (a proxy's page) as store-wide", function()
    for _, st in ipairs({ 400, 404, 409, 413, 422 }) do
      assert.is_false(mlflow.refused("HTTP_" .. st, st), st)
      assert.is_false(mlflow.refused(nil, st), st)
    end
    assert.is_true(mlflow.refused("INVALID_PARAMETER_VALUE", 400))
    assert.is_true(mlflow.refused("INVALID_SPOOL_EVENT", 400))
    -- down for a while: no answer, or 5xx/408/429 after the retries; not a refusal or a credential error
    for _, c in ipairs({ { "CONNECTION_ERROR", nil }, { "TEMPORARILY_UNAVAILABLE", 503 }, { "HTTP_502", 502 },
      { "HTTP_408", 408 }, { "REQUEST_LIMIT_EXCEEDED", 429 } }) do
      assert.is_true(mlflow.store_down(c[1], c[2]), c[1])
    end
    for _, c in ipairs({ { "INVALID_PARAMETER_VALUE", 400 }, { "HTTP_400", 400 }, { "UNAUTHENTICATED", 401 },
      { "BAD_RESPONSE", 200 }, { nil, nil } }) do
      assert.is_false(mlflow.store_down(c[1], c[2]), tostring(c[1]))
    end
  end)

  it("drops the user-info of a URI wherever it is shown, and sends it as Basic auth", function()
    assert.equal("http://host:5000/x", mlflow.redact_uri("http://bob:pw@host:5000/x"))
    assert.equal("https://host", mlflow.redact_uri("https://bob@host"))
    assert.equal("http://h/a@b", mlflow.redact_uri("http://u:p@x@h/a@b")) -- the last @ of the authority
    for _, u in ipairs({ "http://host:1", "/abs/mlruns", "file:///x@y", "lake/mlruns" }) do
      assert.equal(u, mlflow.redact_uri(u))
    end
    assert.same({ "bob", "p@ss:w" }, { mlflow.uri_credentials("http://bob:p%40ss:w@h") })
    assert.is_nil(mlflow.uri_credentials("http://h:1/a@b"))
    local r = assert(Rest.new("http://bob:pw@127.0.0.1:1/"))
    assert.equal("http://127.0.0.1:1", r.uri)
    assert.equal("http://127.0.0.1:1", r:describe())
    if not os.getenv("MLFLOW_TRACKING_USERNAME") then
      assert.equal("Basic " .. Rest.base64("bob:pw"), r.headers.Authorization)
    end
    local _, err = mlflow.classify("postgresql://bob:pw@db/x")
    assert.is_nil(err:find("pw", 1, true))
  end)

  it("waits for a Retry-After given as an HTTP date (RFC 9110), capped", function()
    local now = 784111777 -- Sun, 06 Nov 1994 08:49:37 GMT
    assert.equal(now, Rest.http_date("Sun, 06 Nov 1994 08:49:37 GMT"))
    assert.equal(now, Rest.http_date("Sunday, 06-Nov-94 08:49:37 GMT", now))
    assert.equal(now, Rest.http_date("Sun Nov  6 08:49:37 1994"))
    assert.equal(951782400, Rest.http_date("Tue, 29 Feb 2000 00:00:00 GMT"))
    for _, bad in ipairs({ "soon", "Sun, 06 Nov 1994 08:49:37 CET", "", "06 Nov 1994" }) do
      assert.is_nil(Rest.http_date(bad), bad)
    end
    local r = assert(Rest.new("http://127.0.0.1:1", { backoff_factor = 2, backoff_jitter = 0 }))
    r.clock = function() return now end
    assert.equal(30, r:backoff(1, "Sun, 06 Nov 1994 08:50:07 GMT"))
    assert.equal(0, r:backoff(3, "Sun, 06 Nov 1994 08:00:00 GMT")) -- past: at once
    assert.equal(120, r:backoff(1, "Mon, 07 Nov 1994 08:49:37 GMT")) -- a day: capped
    assert.equal(8, r:backoff(3, "whenever")) -- unreadable: the usual backoff
    -- through a call: a 503 with a date 5 s ahead waits 5 s before the retry
    local core = require "graphids.core"
    local real, sleeps, n = core.http_request, {}, 0
    core.http_request = function()
      n = n + 1
      if n == 1 then
        return 503, "{}", { ["retry-after"] = os.date("!%a, %d %b %Y %H:%M:%S GMT", now + 5) }
      end
      return 200, "{}", {}
    end
    local ok, v = pcall(function()
      local c = assert(Rest.new("http://127.0.0.1:1", { max_retries = 2, notify = function() end,
        sleep = function(s) sleeps[#sleeps + 1] = s end }))
      c.clock = function() return now end
      return c:call("GET", "experiments/get", {})
    end)
    core.http_request = real
    assert(ok, v)
    assert.same({}, v)
    assert.same({ 5 }, sleeps)
  end)

  it("quotes a search filter value as MLflow reads it, without escapes", function()
    local query = require "graphids.track.query"
    assert.equal("'o\"k'", Rest.filter_literal('o"k'))
    assert.equal("\"o'k\"", Rest.filter_literal("o'k"))
    assert.equal("'a\\'", Rest.filter_literal("a\\"))
    assert.is_nil(Rest.filter_literal("'\""))
    local f, rest = query.tag_filter({ ["graphids.dataset"] = "o'k", ["graphids.seed"] = 1,
      ["graphids.stage"] = "'\"" })
    assert.equal("tags.`graphids.dataset` = \"o'k\" AND tags.`graphids.seed` = '1'", f)
    assert.same({ ["graphids.stage"] = "'\"" }, rest)
  end)

  it("reads the SQL store's stand-in for an infinity back as one", function()
    local query = require "graphids.track.query"
    assert.same({ math.huge, -math.huge, 1e308, 0.5 }, { query.rest_metric_value(1.7976931348623157e308),
      query.rest_metric_value(-1.7976931348623157e308), query.rest_metric_value(1e308),
      query.rest_metric_value(0.5) })
    assert.equal(math.huge, query.rest_metric_value("Infinity"))
  end)
end)
