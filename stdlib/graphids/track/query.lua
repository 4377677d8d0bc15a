-- graphids.track.query -- the read side of the tracking store: the runs of an MLflow FileStore
-- (the layout graphids.track.filestore writes, and MLflow's own) or of an `mlflow server` over
-- REST (experiments/search and runs/search with page tokens, runs/get).
--   local query = require "graphids.track.query"
--   local src = assert(query.open("http://127.0.0.1:5000"))   -- or "file:/abs/mlruns", "lake/mlruns"
--   local list = assert(src:search({tags = {["graphids.dataset"] = "hcrl_sa"}}))
--   for _, r in ipairs(list) do print(r.run_id, r.status, r.tags["graphids.phase"]) end
--   local r = src:get_run(run_id)                 -- false when the store has no such run
--   local exp = src:experiment_id("graphids/hcrl_sa/gat")
-- A run: {run_id, experiment_id, experiment (its name), run_name, status ("RUNNING",
-- "FINISHED", "FAILED", ...), start_time, end_time (ms; nil while running), tags = {k = v},
-- params = {k = v}, metrics = {k = latest value}}.  "Latest" is MLflow's: the value with the
-- largest (step, timestamp, value); non-finite values are Lua's nan/inf.  Deleted experiments
-- and runs are left out (MLflow's ACTIVE_ONLY).  Lists are sorted by (start_time, run_id).
-- Expected failures (a store that is not one, a server that does not answer) return nil and a
-- message naming the store.
-- Reading is interactive: unless the MLFLOW_HTTP_REQUEST_* variables say otherwise, a request is
-- tried 3 times with a 10 s limit each and 1 s between (the writers' defaults wait minutes).
local gio = require "graphids.io"
local json = require "graphids.json"
local mlflow = require "graphids.track.mlflow"

local M = {}

M.PAGE_SIZE = 1000 -- runs/experiments per search request (MLflow's default page)
M.EXPERIMENTS_PER_SEARCH = 100 -- experiment ids per runs/search request
M.READ_DEFAULTS = { max_retries = 2, timeout = 10, backoff_factor = 0.5, backoff_jitter = 0 }
local ENV_OF = { max_retries = "MLFLOW_HTTP_REQUEST_MAX_RETRIES", timeout = "MLFLOW_HTTP_REQUEST_TIMEOUT",
  backoff_factor = "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
  backoff_jitter = "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER" }

local STATUS_NAME = {}
for name, code in pairs(mlflow.STATUS) do STATUS_NAME[code] = name end

local function check_opts(fname, opts, allowed)
  for k in pairs(opts or {}) do
    if not allowed[k] then
      error(string.format("%s: unknown option '%s' (allowed: %s)", fname, tostring(k),
        table.concat(mlflow.sorted_keys(allowed), ", ")), 3)
    end
  end
end

local function by_start(a, b)
  if (a.start_time or 0) ~= (b.start_time or 0) then return (a.start_time or 0) < (b.start_time or 0) end
  return a.run_id < b.run_id
end

-- A metric value as a double; the non-finite spellings of Python ("nan", "inf") and of the
-- proto3 JSON mapping ("NaN", "Infinity") included.
local NONFINITE = { nan = 0 / 0, NaN = 0 / 0, inf = math.huge, Infinity = math.huge, ["-inf"] = -math.huge,
  ["-Infinity"] = -math.huge }
local function metric_value(v)
  if type(v) == "number" then return v + 0.0 end
  return NONFINITE[v] or tonumber(v)
end

-- Is (step, ts, value) after the latest so far?  (MLflow's max over (step, timestamp, value).)
local function later(step, ts, value, cur)
  if cur == nil then return true end
  if step ~= cur.step then return step > cur.step end
  if ts ~= cur.ts then return ts > cur.ts end
  return value > cur.value
end

-- ------------------------------------------------------------------------- FileStore

local FileSource = {}
FileSource.__index = FileSource
FileSource.__name = "graphids.track.query.FileSource"

local yaml_get = require("graphids.track.filestore").yaml_get

local function meta_int(text, key)
  local v = yaml_get(text, key)
  return v and math.tointeger(tonumber(v)) or nil
end

-- Every file under dir as {relative/key = contents}: keys with "/" are sub-folders.
local function read_tree(dir, prefix, out)
  out = out or {}
  for _, name in ipairs(gio.list_dir(dir) or {}) do
    local p, key = gio.join(dir, name), prefix and (prefix .. "/" .. name) or name
    if gio.is_dir(p) then
      read_tree(p, key, out)
    else
      local s, err = gio.read_file(p)
      if s == nil then error(err, 0) end
      out[key] = s
    end
  end
  return out
end

-- The latest value of each metric file ("<timestamp> <value> <step>" lines).
local function read_metrics(dir)
  local out = {}
  for key, text in pairs(read_tree(dir)) do
    local cur, n = nil, 0
    for line in text:gmatch("[^\n]+") do
      n = n + 1
      local ts, v, step = line:match("^(%-?%d+) (%S+) (%-?%d+)%s*$")
      -- (MLflow's FileStore reads the older "<timestamp> <value>" lines as step 0)
      if ts == nil then
        ts, v = line:match("^(%-?%d+) (%S+)%s*$")
        step = "0"
      end
      local value = v and metric_value(v)
      if value == nil then
        error(string.format("%s/%s:%d: not a metric line '<timestamp> <value> <step>': '%s'", dir, key, n,
          line:sub(1, 80)), 0)
      end
      ts, step = math.tointeger(tonumber(ts)), math.tointeger(tonumber(step))
      if later(step, ts, value, cur) then cur = { step = step, ts = ts, value = value } end
    end
    if cur then out[key] = cur.value end
  end
  return out
end

-- The active experiments: sorted list of {id, name}.
function FileSource:_experiments()
  local out = {}
  for _, d in ipairs(gio.list_dir(self.root) or {}) do
    local meta = d:match("^%d+$") and gio.read_file(gio.join(self.root, d, "meta.yaml"))
    if meta and (yaml_get(meta, "lifecycle_stage") or "active") == "active" then
      out[#out + 1] = { id = d, name = yaml_get(meta, "name") or d }
    end
  end
  return out
end

local function matches(tags, want)
  for k, v in pairs(want or {}) do
    if tags[k] ~= tostring(v) then return false end
  end
  return true
end

-- The active run run_id of experiment exp whose tags match want (nil otherwise); params and
-- metrics, most of the files, are read only for a match.
function FileSource:_run(exp, run_id, want)
  local dir = gio.join(self.root, exp.id, run_id)
  local meta = gio.read_file(gio.join(dir, "meta.yaml"))
  if meta == nil or (yaml_get(meta, "lifecycle_stage") or "active") ~= "active" then return nil end
  local tags = read_tree(gio.join(dir, "tags"))
  if not matches(tags, want) then return nil end
  local code = meta_int(meta, "status")
  if STATUS_NAME[code] == nil then
    -- a damaged or foreign meta.yaml: named, as an unreadable metric line is
    error(string.format("%s: 'status' is %s, not one of MLflow's run status codes (1-5)",
      gio.join(dir, "meta.yaml"), yaml_get(meta, "status") and ("'" .. yaml_get(meta, "status") .. "'")
        or "missing"), 0)
  end
  return {
    run_id = run_id, experiment_id = exp.id, experiment = exp.name, run_name = yaml_get(meta, "run_name"),
    status = STATUS_NAME[code],
    start_time = meta_int(meta, "start_time"), end_time = meta_int(meta, "end_time"),
    tags = tags, params = read_tree(gio.join(dir, "params")),
    metrics = read_metrics(gio.join(dir, "metrics")),
  }
end

local function guarded(self, fn, ...)
  local ok, a, b = pcall(fn, ...)
  if not ok then return nil, string.format("FileStore %s: %s", self.root, tostring(a)) end
  return a, b
end

function FileSource:search(opts)
  check_opts("query.search", opts, { experiment_ids = true, tags = true })
  opts = opts or {}
  return guarded(self, function()
    local want
    if opts.experiment_ids then
      want = {}
      for _, id in ipairs(opts.experiment_ids) do want[tostring(id)] = true end
    end
    local out = {}
    for _, exp in ipairs(self:_experiments()) do
      if want == nil or want[exp.id] then
        for _, d in ipairs(gio.list_dir(gio.join(self.root, exp.id)) or {}) do
          local r = #d == 32 and d:match("^%x+$") and self:_run(exp, d, opts.tags)
          if r then out[#out + 1] = r end
        end
      end
    end
    table.sort(out, by_start)
    return out
  end)
end

function FileSource:get_run(run_id)
  return guarded(self, function()
    for _, exp in ipairs(self:_experiments()) do
      local r = self:_run(exp, run_id)
      if r then return r end
    end
    return false
  end)
end

function FileSource:experiment_id(name)
  for _, exp in ipairs(self:_experiments()) do
    if exp.name == name then return exp.id end
  end
  return nil, string.format("FileStore %s has no active experiment named '%s'", self.root, name)
end

local function open_file(root)
  if not gio.is_dir(root) then
    return nil, string.format("FileStore %s does not exist (or is not a directory)", root)
  end
  local self = setmetatable({ root = root, uri = "file://" .. root }, FileSource)
  if #self:_experiments() == 0 and not gio.is_dir(gio.join(root, ".trash")) then
    local hint = ""
    local sub = gio.join(root, "mlruns")
    if gio.is_dir(sub) then hint = "; did you mean " .. sub .. "?" end
    return nil, string.format("%s is not an MLflow FileStore (neither .trash/ nor " ..
      "<experiment id>/meta.yaml in it)%s", root, hint)
  end
  return self
end

-- ------------------------------------------------------------------------- REST

local RestSource = {}
RestSource.__index = RestSource
RestSource.__name = "graphids.track.query.RestSource"

function RestSource:_call(method, endpoint, args)
  local v, err, code = self.rest:call(method, endpoint, args)
  if v == nil then return nil, string.format("tracking server %s: %s", self.uri, tostring(err)), code end
  return v
end

-- Every page of a search: items under `field`, following next_page_token.
function RestSource:_pages(endpoint, args, field)
  local out, seen = {}, {}
  while true do
    local v, err = self:_call("POST", endpoint, args)
    if v == nil then return nil, err end
    for _, item in ipairs(v[field] or {}) do out[#out + 1] = item end
    local token = v.next_page_token
    if type(token) ~= "string" or token == "" then return out end
    if seen[token] then
      return nil, string.format("tracking server %s: %s returned the page token '%s' twice", self.uri,
        endpoint, token:sub(1, 40))
    end
    seen[token], args.page_token = true, token
  end
end

function RestSource:_experiments()
  if self.exps then return self.exps end
  local list, err = self:_pages("experiments/search",
    { max_results = self.page_size, view_type = "ACTIVE_ONLY" }, "experiments")
  if list == nil then return nil, err end
  local out = {}
  for _, e in ipairs(list) do out[#out + 1] = { id = tostring(e.experiment_id), name = e.name } end
  table.sort(out, function(a, b) return a.id < b.id end)
  self.exps = out
  return out
end

local function kv_map(list)
  local t = {}
  for _, e in ipairs(list or {}) do t[e.key] = e.value end
  return t
end

-- MLflow's SQL store keeps an infinite metric as the largest double, +-1.7976931348623157e308
-- (its is_nan column covers only NaN), and answers that: read back as the infinity it was.
local DBL_MAX = 1.7976931348623157e308
local function rest_metric_value(v)
  local x = metric_value(v)
  if x and x == x and math.abs(x) >= DBL_MAX then x = x > 0 and math.huge or -math.huge end
  return x
end
M.rest_metric_value = rest_metric_value

local function rest_run(v, names)
  local info, data = v.info or {}, v.data or {}
  local metrics = {}
  for _, m in ipairs(data.metrics or {}) do metrics[m.key] = rest_metric_value(m.value) end
  local exp = tostring(info.experiment_id)
  local status = info.status
  if type(status) == "number" then status = STATUS_NAME[status] end
  return { run_id = info.run_id, experiment_id = exp, experiment = names[exp], run_name = info.run_name,
    status = status, start_time = info.start_time, end_time = info.end_time, tags = kv_map(data.tags),
    params = kv_map(data.params), metrics = metrics }
end

local function names_of(exps)
  local t = {}
  for _, e in ipairs(exps) do t[e.id] = e.name end
  return t
end

-- An MLflow search filter: tags.`k` = 'v' AND ... (keys sorted).  MLflow reads the text between
-- the quotes as it is, without escapes, so a value is single-quoted, or double-quoted when it
-- holds a single quote (graphids.track.rest.filter_literal).  A value holding both cannot be
-- said in a filter: it is left out of the filter and returned in the second result, {k = v},
-- for the caller to match itself.
local function tag_filter(tags)
  local parts, rest = {}, {}
  local literal = require("graphids.track.rest").filter_literal
  for _, k in ipairs(mlflow.sorted_keys(tags or {})) do
    local lit = literal(tags[k])
    if lit then
      parts[#parts + 1] = string.format("tags.`%s` = %s", k, lit)
    else
      rest[k] = tags[k]
    end
  end
  return table.concat(parts, " AND "), rest
end
M.tag_filter = tag_filter

function RestSource:search(opts)
  check_opts("query.search", opts, { experiment_ids = true, tags = true })
  opts = opts or {}
  local exps, err = self:_experiments()
  if exps == nil then return nil, err end
  local ids = {}
  if opts.experiment_ids then
    for _, id in ipairs(opts.experiment_ids) do ids[#ids + 1] = tostring(id) end
  else
    for _, e in ipairs(exps) do ids[#ids + 1] = e.id end
  end
  local names = names_of(exps)
  local out, filter, unsaid = {}, tag_filter(opts.tags)
  for first = 1, #ids, M.EXPERIMENTS_PER_SEARCH do
    local last = math.min(#ids, first + M.EXPERIMENTS_PER_SEARCH - 1)
    local chunk = json.array({ table.unpack(ids, first, last) })
    local list, serr = self:_pages("runs/search", { experiment_ids = chunk,
      filter = filter ~= "" and filter or nil, run_view_type = "ACTIVE_ONLY",
      max_results = self.page_size }, "runs")
    if list == nil then return nil, serr end
    for _, v in ipairs(list) do
      local r = rest_run(v, names)
      if matches(r.tags, unsaid) then out[#out + 1] = r end
    end
  end
  table.sort(out, by_start)
  return out
end

function RestSource:get_run(run_id)
  local v, err, code = self:_call("GET", "runs/get", { run_id = run_id })
  if v == nil then
    if code == "RESOURCE_DOES_NOT_EXIST" or code == "INVALID_PARAMETER_VALUE" then return false end
    return nil, err
  end
  if v.run == nil or (v.run.info or {}).lifecycle_stage == "deleted" then return false end
  local exps, eerr = self:_experiments()
  if exps == nil then return nil, eerr end
  return rest_run(v.run, names_of(exps))
end

function RestSource:experiment_id(name)
  local v, err, code = self:_call("GET", "experiments/get-by-name", { experiment_name = name })
  if v and v.experiment and v.experiment.lifecycle_stage ~= "deleted" then
    return tostring(v.experiment.experiment_id)
  end
  if v or code == "RESOURCE_DOES_NOT_EXIST" then
    return nil, string.format("tracking server %s has no active experiment named '%s'", self.uri, name)
  end
  return nil, err
end

-- ------------------------------------------------------------------------- open

-- The store at uri (http(s)://, file:, or a plain path; graphids.track.mlflow.store's rules).
-- opts (tests): page_size, and max_retries, timeout, backoff_factor, backoff_jitter, sleep for
-- the REST client.  Returns a source, or nil, message.
function M.open(uri, opts)
  check_opts("query.open", opts, { page_size = true, max_retries = true, timeout = true,
    backoff_factor = true, backoff_jitter = true, sleep = true })
  if type(uri) ~= "string" or uri == "" then
    return nil, "tracking URI must be a non-empty string, got " .. tostring(uri)
  end
  opts = opts or {}
  local sopts = { uri = uri, sleep = opts.sleep }
  for k, env in pairs(ENV_OF) do
    local v = os.getenv(env)
    if opts[k] ~= nil then
      sopts[k] = opts[k]
    elseif v == nil or v == "" then
      sopts[k] = M.READ_DEFAULTS[k]
    end
  end
  local store, err = mlflow.store(sopts)
  if store == nil then return nil, err end
  if store.root then return open_file(store.root) end
  return setmetatable({ uri = store.uri, rest = store, page_size = opts.page_size or M.PAGE_SIZE },
    RestSource)
end

return M
