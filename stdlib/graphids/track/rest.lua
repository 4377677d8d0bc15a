-- graphids.track.rest -- the MLflow REST API (/api/2.0/mlflow/...) over libcurl
-- (graphids.core.http_request), with the Python client's transport rules:
--   * POST bodies are JSON with Content-Type: application/json; GET arguments are URL-encoded;
--   * Authorization: Basic from MLFLOW_TRACKING_USERNAME + MLFLOW_TRACKING_PASSWORD, else from
--     the URI's user-info (http://user:password@host; the URI is kept without it), else
--     Bearer MLFLOW_TRACKING_TOKEN; MLFLOW_TRACKING_INSECURE_TLS (true/1) skips TLS checks,
--     MLFLOW_TRACKING_SERVER_CERT_PATH / _CLIENT_CERT_PATH name a CA bundle / client cert;
--   * retries on connection errors and HTTP 408/429/500/502/503/504, up to
--     MLFLOW_HTTP_REQUEST_MAX_RETRIES (7) times, sleeping factor * 2^(n-1) + U[0, jitter)
--     (MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR 2, _BACKOFF_JITTER 1; none before the first retry, as
--     urllib3; at most 120 s; a Retry-After header, in seconds or an HTTP date, wins), each try limited to
--     MLFLOW_HTTP_REQUEST_TIMEOUT (120) seconds;
--   * an answer is decided by its `error_code`; a non-JSON body, even with status 200, is an
--     error carrying the start of the body (an auth proxy's HTML page);
--   * log-batch requests are split within MLflow's limits: 1000 metrics, 100 params, 100 tags,
--     1000 entities and under 1 MB of JSON each.
--   * a 200 answer without what the endpoint promises ({} from a proxy, {"run": null}) is an
--     error quoting the body, never a run id "nil" or a raised Lua error.
-- Methods as graphids.track.mlflow describes; failures return nil, message, error_code, status
-- (the HTTP status; nil when no answer came).
local core = require "graphids.core"
local json = require "graphids.json"

local Rest = {}
Rest.__index = Rest
Rest.__name = "graphids.track.RestStore"

local RETRY_STATUS = { [408] = true, [429] = true, [500] = true, [502] = true, [503] = true, [504] = true }
local RUN_KEY_TAG = "graphids.run_key" -- graphids.track.spool's client id of a run
local MAX_BATCH_BYTES = 900000 -- MLflow refuses 1e6; the margin covers the envelope

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local q = { (n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63 }
    out[#out + 1] = B64:sub(q[1] + 1, q[1] + 1) .. B64:sub(q[2] + 1, q[2] + 1) ..
      (b and B64:sub(q[3] + 1, q[3] + 1) or "=") .. (c and B64:sub(q[4] + 1, q[4] + 1) or "=")
  end
  return table.concat(out)
end
Rest.base64 = base64

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

-- MLflow's boolean environment variables accept only true/false/1/0 (any case).
local function env_bool(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return false end
  local l = v:lower()
  if l == "true" or l == "1" then return true end
  if l == "false" or l == "0" then return false end
  error(string.format("%s must be true, false, 1 or 0, got '%s'", name, v), 0)
end

local function env_num(name, default, lo, hi)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  local n = tonumber(v)
  if n == nil or n < lo or n > hi then
    error(string.format("%s must be a number in [%g, %g], got '%s'", name, lo, hi, v), 0)
  end
  return n
end

-- opts (all optional, for tests): max_retries, backoff_factor, backoff_jitter, timeout, sleep
-- (a function(seconds); false from it, as from core.sleep cut short by a signal, stops the
-- retries), notify (a function(line) told once per call when it starts retrying;
-- default: a line on stderr, so minutes of retries are not silent); the environment supplies
-- the rest.
function Rest.new(uri, opts)
  opts = opts or {}
  local ok, self = pcall(function()
    -- credentials in the URI (http://user:password@host) become the Authorization header, and
    -- the URI is kept without them: it is shown in messages, traces and spools
    local mlflow = require "graphids.track.mlflow"
    local uri_user, uri_pass = mlflow.uri_credentials(uri)
    if not mlflow.redact_uri(uri):match("^%a+://[^/?#]+") then
      error(string.format("tracking URI '%s' has no host: use http(s)://host:port",
        mlflow.display_uri(uri)), 0)
    end
    local s = setmetatable({ uri = mlflow.redact_uri(uri):gsub("/+$", ""), exp_cache = {} }, Rest)
    s.base = s.uri .. "/api/2.0/mlflow/"
    s.max_retries = opts.max_retries or math.floor(env_num("MLFLOW_HTTP_REQUEST_MAX_RETRIES", 7, 0, 100))
    s.backoff_factor = opts.backoff_factor or env_num("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", 2, 0, 120)
    s.backoff_jitter = opts.backoff_jitter or env_num("MLFLOW_HTTP_REQUEST_BACKOFF_JITTER", 1.0, 0, 120)
    s.timeout = opts.timeout or env_num("MLFLOW_HTTP_REQUEST_TIMEOUT", 120, 0.001, 86400)
    s.sleep = opts.sleep or core.sleep
    s.notify = opts.notify or function(line) io.stderr:write("graphids: tracking: ", line, "\n") end
    s.insecure_tls = env_bool("MLFLOW_TRACKING_INSECURE_TLS")
    s.ca_file = os.getenv("MLFLOW_TRACKING_SERVER_CERT_PATH")
    if s.ca_file == "" then s.ca_file = nil end
    if s.insecure_tls and s.ca_file then
      error("MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH cannot both be set", 0)
    end
    s.client_cert = os.getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH")
    if s.client_cert == "" then s.client_cert = nil end
    s.headers = { ["Content-Type"] = "application/json" }
    local user, pass = os.getenv("MLFLOW_TRACKING_USERNAME"), os.getenv("MLFLOW_TRACKING_PASSWORD")
    local token = os.getenv("MLFLOW_TRACKING_TOKEN")
    -- (MLflow's rest_utils sends Basic auth only when both are non-empty, else the token)
    if user and pass and user ~= "" and pass ~= "" then
      s.headers.Authorization = "Basic " .. base64(user .. ":" .. pass)
    elseif uri_user then -- as requests takes them from the URL (over a token header)
      s.headers.Authorization = "Basic " .. base64(uri_user .. ":" .. (uri_pass or ""))
    elseif token and token ~= "" then
      s.headers.Authorization = "Bearer " .. token
    end
    return s
  end)
  if not ok then return nil, "MLflow REST: " .. tostring(self) end
  return self
end

function Rest:describe()
  return self.uri
end

local MONTHS = { Jan = 1, Feb = 2, Mar = 3, Apr = 4, May = 5, Jun = 6, Jul = 7, Aug = 8, Sep = 9, Oct = 10,
  Nov = 11, Dec = 12 }

-- Seconds since the epoch of a UTC civil time (Howard Hinnant's days_from_civil).
local function epoch_of(y, mo, d, h, mi, sec)
  y = mo <= 2 and y - 1 or y
  local era = (y >= 0 and y or y - 399) // 400
  local yoe = y - era * 400
  local doy = (153 * (mo + (mo > 2 and -3 or 9)) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return ((era * 146097 + doe - 719468) * 86400) + h * 3600 + mi * 60 + sec
end

-- An HTTP date (RFC 9110 5.6.7: IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", and the obsolete
-- RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime "Sun Nov  6 08:49:37 1994" forms) as
-- seconds since the epoch; nil when s is none of them.  now (seconds) places a two-digit year.
function Rest.http_date(s, now)
  if type(s) ~= "string" then return nil end
  s = s:match("^%s*(.-)%s*$")
  local d, mon, y, h, mi, sec = s:match("^%a+, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d):(%d%d):(%d%d) GMT$")
  if not d then
    d, mon, y, h, mi, sec = s:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d):(%d%d):(%d%d) GMT$")
    if d then
      -- a two-digit year more than 50 years ahead is the last century's
      local this = tonumber(os.date("!%Y", math.floor(now or core.wall_time())))
      local yy = tonumber(y) + (this // 100) * 100
      if yy > this + 50 then yy = yy - 100 end
      y = yy
    end
  end
  if not d then mon, d, h, mi, sec, y = s:match("^%a+ (%a%a%a) +(%d%d?) (%d%d):(%d%d):(%d%d) (%d%d%d%d)$") end
  if not d or not MONTHS[mon] then return nil end
  d, y, h, mi, sec = tonumber(d), tonumber(y), tonumber(h), tonumber(mi), tonumber(sec)
  if d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  return epoch_of(y, MONTHS[mon], d, h, mi, sec)
end

-- Seconds before retry n (1-based), as urllib3's Retry.get_backoff_time.  A Retry-After header
-- (seconds, or an HTTP date) wins, at most 120 s; a date in the past means at once.
-- (jitter = false: without the random part, for the announced total)
function Rest:backoff(n, retry_after, jitter)
  if retry_after then
    local s = tonumber(retry_after)
    if s == nil then
      local now = (self.clock or core.wall_time)()
      local at = Rest.http_date(retry_after, now)
      if at then s = math.max(0, at - now) end
    end
    if s and s >= 0 then return math.min(s, 120) end
  end
  if n <= 1 then return 0 end
  local t = self.backoff_factor * 2 ^ (n - 1)
  if jitter ~= false and self.backoff_jitter > 0 then t = t + math.random() * self.backoff_jitter end
  return math.min(t, 120)
end

local function snippet(body)
  body = body:gsub("%s+", " ")
  return #body > 200 and body:sub(1, 200) .. "..." or body
end

-- args as JSON; strings that are not UTF-8 (a Latin-1 run dir) get U+FFFD instead of failing
-- the whole request.
local function encode_body(args)
  local ok, body = pcall(json.encode, args or {})
  if ok then return body end
  return json.encode(require("graphids.track.mlflow").clean_strings(args))
end

-- One call: value (decoded JSON object), or nil, message, error_code, status.  before_retry
-- (optional) is asked before each retry, with the last failure's code and status; a value it
-- returns is the call's answer (a request that may have been done though its answer was
-- lost), and nil, false skips sending the request this time (the try still counts).
function Rest:call(method, endpoint, args, before_retry)
  local url, body = self.base .. endpoint, nil
  if method == "GET" then
    local q = {}
    for _, k in ipairs(require("graphids.track.mlflow").sorted_keys(args or {})) do
      q[#q + 1] = urlencode(k) .. "=" .. urlencode(args[k])
    end
    if #q > 0 then url = url .. "?" .. table.concat(q, "&") end
  else
    body = encode_body(args)
  end
  local attempt, send, last, status = 0, true, nil, nil
  while true do
    local text, headers, retry_after
    if send then
      status, text, headers = core.http_request { method = method, url = url, headers = self.headers,
        body = body, timeout = self.timeout, insecure_tls = self.insecure_tls, ca_file = self.ca_file,
        client_cert = self.client_cert }
    end
    if not send then -- nothing sent: the last failure stands
      last = { last[1], last[2] }
    elseif status == nil then
      last = { string.format("MLflow %s %s: %s", method, endpoint, text), "CONNECTION_ERROR" }
      if headers == "EINVAL" then return nil, last[1], last[2] end
    elseif status == 200 then
      local ok, v = pcall(json.decode, text)
      if ok and type(v) == "table" and not json.is_array(v) then return v end
      return nil, string.format("MLflow %s %s: HTTP 200 with a body that is not a JSON object: %s",
        method, endpoint, snippet(text)), "BAD_RESPONSE"
    else
      local ok, v = pcall(json.decode, text)
      if ok and type(v) == "table" and type(v.error_code) == "string" then
        last = { string.format("MLflow %s %s: %s: %s (HTTP %d)", method, endpoint, v.error_code,
          tostring(v.message), status), v.error_code }
      else
        last = { string.format("MLflow %s %s: HTTP %d: %s", method, endpoint, status, snippet(text)),
          "HTTP_" .. status }
      end
      if not RETRY_STATUS[status] then return nil, last[1], last[2], status end
      retry_after = headers and headers["retry-after"]
    end
    attempt = attempt + 1
    if attempt > self.max_retries then
      if self.max_retries > 0 then
        last[1] = last[1] .. string.format(" (after %d retries)", self.max_retries)
      end
      return nil, last[1], last[2], status
    end
    if attempt == 1 then
      local total = 0
      for n = 1, self.max_retries do total = total + self:backoff(n, nil, false) end
      self.notify(string.format("%s; retrying up to %d times over about %.0f s of waits, plus up " ..
        "to %.0f s a try (MLFLOW_HTTP_REQUEST_MAX_RETRIES, _BACKOFF_FACTOR, _TIMEOUT)", last[1],
        self.max_retries, total, self.timeout))
    end
    -- a wait cut short by a signal (Ctrl-C: the host raises "interrupted!" as this returns)
    -- ends the retries: the next try would only hold up the interrupt further
    if self.sleep(self:backoff(attempt, retry_after)) == false then
      return nil, last[1] .. " (retries stopped: the wait was interrupted)", last[2], status
    end
    if before_retry then
      local done, again = before_retry(last[2], status, text)
      if done then return done end
      send = again ~= false
    end
  end
end

-- ---------------------------------------------------------------- the store interface

-- The error for a 200 answer that lacks what the endpoint promises.
local function unexpected(endpoint, v)
  local ok, text = pcall(json.encode, v)
  return nil, string.format("MLflow: unexpected answer from %s: %s", endpoint,
    snippet(ok and text or tostring(v))), "BAD_RESPONSE"
end

-- A non-empty string or number id (MLflow sends ids as strings; tolerate numbers).
local function id_of(x)
  if (type(x) == "string" and x ~= "") or math.type(x) == "integer" then return tostring(x) end
  return nil
end

local function field(v, ...)
  for _, k in ipairs({ ... }) do
    if type(v) ~= "table" then return nil end
    v = v[k]
  end
  return v
end

function Rest:get_or_create_experiment(name)
  if self.exp_cache[name] then return self.exp_cache[name] end
  for _ = 1, 2 do -- a create that races another client's create reads the name again
    local v, err, code, status = self:call("GET", "experiments/get-by-name", { experiment_name = name })
    if v then
      local id = id_of(field(v, "experiment", "experiment_id"))
      if not id then return unexpected("experiments/get-by-name", v) end
      if v.experiment.lifecycle_stage == "deleted" then
        return nil, string.format("MLflow: experiment '%s' (%s) is deleted; restore it or pick another name",
          name, id)
      end
      self.exp_cache[name] = id
      return id
    elseif code ~= "RESOURCE_DOES_NOT_EXIST" then
      return nil, err, code, status
    end
    v, err, code, status = self:call("POST", "experiments/create", { name = name })
    if v then
      local id = id_of(v.experiment_id)
      if not id then return unexpected("experiments/create", v) end
      self.exp_cache[name] = id
      return id
    elseif code ~= "RESOURCE_ALREADY_EXISTS" then
      return nil, err, code, status
    end
  end
  return nil, "MLflow: experiment '" .. name .. "' could be neither found nor created"
end

local function kv_array(list)
  local out = json.array()
  for _, t in ipairs(list or {}) do out[#out + 1] = { key = t.key, value = t.value } end
  return out
end

-- A create whose answer was lost (a 503 from a proxy, a timeout) may have created the run:
-- before a retry, the run is looked up by its graphids.run_key tag, so it is not made twice.
-- Only a lookup that answers "no such run" lets the create be sent again; a failed lookup is
-- itself retried (same backoff).  After a timeout (curl 28) or a 504, the first create may
-- still be on its way to the store, so a "no" proves nothing: the create is not sent again by
-- this call, which fails after its retries (the event is spooled, and `graphids track sync`
-- looks the run up again before creating it).
function Rest:create_run(spec)
  local key
  for _, t in ipairs(spec.tags or {}) do
    if t.key == RUN_KEY_TAG then key = t.value end
  end
  local in_flight = false
  local function created(code, status, text)
    if not key then return nil end
    if code == "CONNECTION_ERROR" and tostring(text):find("curl 28", 1, true) or status == 504 then
      in_flight = true
    end
    -- one try: the create's own retries already wait for a server that is down
    local saved = self.max_retries
    self.max_retries = 0
    local ok, id = pcall(self.find_run, self, spec.experiment_id, RUN_KEY_TAG, key)
    self.max_retries = saved
    if not ok and require("graphids.track.mlflow").is_interrupt(id) then error(id, 0) end
    if ok and id then return { run = { info = { run_id = id } } } end
    return nil, ok and id == false and not in_flight
  end
  local v, err, code, status = self:call("POST", "runs/create", {
    experiment_id = tostring(spec.experiment_id), run_name = spec.run_name, start_time = spec.start_time,
    tags = kv_array(spec.tags) }, created)
  if not v then return nil, err, code, status end
  local id = id_of(field(v, "run", "info", "run_id"))
  if not id then return unexpected("runs/create", v) end
  return id
end

-- A string literal of MLflow's search filter for v: MLflow takes the text between the quotes
-- as it is (no escapes: 'o\'k' would search for o\'k), so it is single-quoted unless it holds a
-- single quote, then double-quoted; nil, why when it holds both (no literal can say it).
function Rest.filter_literal(v)
  v = tostring(v)
  if not v:find("'", 1, true) then return "'" .. v .. "'" end
  if not v:find('"', 1, true) then return '"' .. v .. '"' end
  return nil, string.format("the value %q holds both quote characters, which MLflow's search filter " ..
    "cannot express", v)
end

function Rest:find_run(exp, key, value)
  local lit, why = Rest.filter_literal(value)
  if not lit then return nil, "MLflow runs/search: " .. why, "INVALID_PARAMETER_VALUE", 400 end
  local v, err, code, status = self:call("POST", "runs/search", {
    experiment_ids = json.array({ tostring(exp) }),
    filter = string.format("tags.`%s` = %s", key, lit),
    run_view_type = "ALL", max_results = 1 })
  if not v then return nil, err, code, status end
  if v.runs == nil then return false end -- MLflow leaves out an empty list
  local run = field(v, "runs", 1)
  if run == nil and type(v.runs) == "table" then return false end
  local id = id_of(field(run, "info", "run_id"))
  if not id then return unexpected("runs/search", v) end
  return id
end

-- {key = value} of the params among keys that run_id has (runs/get).
function Rest:get_params(run_id, keys)
  local v, err, code, status = self:call("GET", "runs/get", { run_id = run_id })
  if not v then return nil, err, code, status end
  if type(field(v, "run", "info")) ~= "table" then return unexpected("runs/get", v) end
  local want, out = {}, {}
  for _, k in ipairs(keys) do want[k] = true end
  for _, p in ipairs(field(v, "run", "data", "params") or {}) do
    if type(p) == "table" and want[p.key] then out[p.key] = p.value end
  end
  return out
end

-- Removes the tag key of run_id (runs/delete-tag) when the run has it (runs/get): MLflow
-- answers RESOURCE_DOES_NOT_EXIST for a tag that is not there, as for a run that is not.
function Rest:delete_tag(run_id, key)
  local v, err, code, status = self:call("GET", "runs/get", { run_id = run_id })
  if not v then return nil, err, code, status end
  if type(field(v, "run", "info")) ~= "table" then return unexpected("runs/get", v) end
  for _, t in ipairs(field(v, "run", "data", "tags") or {}) do
    if type(t) == "table" and t.key == key then
      v, err, code, status = self:call("POST", "runs/delete-tag", { run_id = run_id, key = key })
      if not v then return nil, err, code, status end
      return true
    end
  end
  return true
end

-- {status, start_time, end_time, lifecycle_stage, resumed_time} of run_id (runs/get; as
-- FileStore:get_run_info, opts.system_step too: run_key, and system_step from the run's latest
-- values, where MLflow's own monitor reads it).  MLflow may send int64 times as strings.
function Rest:get_run_info(run_id, opts)
  local v, err, code, status = self:call("GET", "runs/get", { run_id = run_id })
  if not v then return nil, err, code, status end
  local info = field(v, "run", "info")
  if type(info) ~= "table" then return unexpected("runs/get", v) end
  local resumed, run_key
  for _, t in ipairs(field(v, "run", "data", "tags") or {}) do
    if type(t) == "table" and t.key == "graphids.resumed_time" then resumed = tonumber(t.value) end
    if type(t) == "table" and t.key == RUN_KEY_TAG and type(t.value) == "string" then run_key = t.value end
  end
  local out = { status = info.status, start_time = tonumber(info.start_time),
    end_time = tonumber(info.end_time), lifecycle_stage = info.lifecycle_stage or "active",
    resumed_time = resumed }
  if opts and opts.system_step then
    local metrics = field(v, "run", "data", "metrics")
    out.run_key = run_key
    if metrics == nil or type(metrics) == "table" then
      out.system_step = require("graphids.track.system_step").largest(metrics) or false
    else
      out.system_step_error = "runs/get answered metrics that are not a list"
    end
  end
  return out
end

-- Non-finite values as the strings the proto3 JSON mapping reads ("NaN", "Infinity").
local function metric_json(m)
  local x = m.value
  if x ~= x then
    x = "NaN"
  elseif x == math.huge then
    x = "Infinity"
  elseif x == -math.huge then
    x = "-Infinity"
  end
  return { key = m.key, value = x, timestamp = m.timestamp, step = m.step or 0 }
end

-- Splits a batch into requests within the limits, in order: params, tags, then metrics.
function Rest.split_batch(batch)
  local chunks, cur, n, bytes = {}, nil, 0, 0
  local function flush()
    if cur then chunks[#chunks + 1] = cur end
    cur, n, bytes = nil, 0, 0
  end
  local function add(kind, item, limit)
    local size = #json.encode(item) + 1
    if cur and ((cur[kind] and #cur[kind] >= limit) or n >= 1000 or bytes + size > MAX_BATCH_BYTES) then
      flush()
    end
    cur = cur or {}
    cur[kind] = cur[kind] or json.array()
    cur[kind][#cur[kind] + 1] = item
    n, bytes = n + 1, bytes + size
  end
  for _, p in ipairs(batch.params or {}) do add("params", { key = p.key, value = p.value }, 100) end
  for _, t in ipairs(batch.tags or {}) do add("tags", { key = t.key, value = t.value }, 100) end
  for _, m in ipairs(batch.metrics or {}) do add("metrics", metric_json(m), 1000) end
  flush()
  return chunks
end

function Rest:log_batch(run_id, batch)
  for _, chunk in ipairs(Rest.split_batch(batch)) do
    chunk.run_id = run_id
    local v, err, code, status = self:call("POST", "runs/log-batch", chunk)
    if not v then return nil, err, code, status end
  end
  return true
end

function Rest:update_run(run_id, status, end_time)
  local v, err, code, http = self:call("POST", "runs/update",
    { run_id = run_id, status = status, end_time = end_time })
  if not v then return nil, err, code, http end
  return true
end

return Rest
