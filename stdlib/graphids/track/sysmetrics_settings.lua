-- graphids.track.sysmetrics_settings -- what track.Callback's system metrics are sampled with:
-- its options, else the variables MLflow's monitor reads, else MLflow's defaults.
--   local settings = require "graphids.track.sysmetrics_settings"
--   local s = settings.resolve(opts, level)  -- {interval = 5 | false, samples_before_logging = 1,
--                                            --  node_id = "node_0" | nil}
--   option                                 variable                                      default
--   system_metrics_interval                MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL        5 (s)
--   system_metrics_samples_before_logging  MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING   1
--   system_metrics_node_id                 MLFLOW_SYSTEM_METRICS_NODE_ID                  none
-- The option wins over the variable (MLflow lets the variable win over its arguments; here a
-- callback's explicit option is the more specific).  A bad option raises; a bad variable is a
-- warning on stderr, and no system metrics (MLflow's monitor does not start then either).  An
-- empty variable is unset; a variable of 0 samples is 1, as MLflow reads it (`or` its default).
-- opts.system_metrics (the sampler's own options) is checked against sysmetrics.OPTIONS, and
-- may repeat a setting above but not change it.
local sysmetrics = require "graphids.track.sysmetrics"
local U = require "graphids.nn._util"

local M = {}

-- What a setting read from a bad variable is: the metrics are off, after a warning.
local BAD = setmetatable({}, { __name = "bad variable" })

local function bad_variable(name, value, what)
  io.stderr:write(string.format("graphids: warning: %s=%q is not %s; no system metrics are logged\n",
    name, value, what))
  return BAD
end

-- A variable's value: nil when unset or empty.
local function variable(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

-- Seconds, false (none: false and 0 turn the metrics off; MLflow reads a 0 as unset), or BAD
-- after a warning (a bad variable).
local function interval(v, level)
  if v == false or v == 0 then return false end
  if v ~= nil then
    if not sysmetrics.valid_interval(v) then
      error("track.Callback: system_metrics_interval must be a number of seconds > 0, or false or 0 " ..
        "for none, got " .. tostring(v), level)
    end
    return v
  end
  local name = "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL"
  local env = variable(name)
  if env == nil then return sysmetrics.DEFAULT_INTERVAL end
  local n = tonumber(env)
  if n == 0 then return false end
  if not sysmetrics.valid_interval(n) then
    return bad_variable(name, env, "a number of seconds > 0 (0: none)")
  end
  return n
end

-- An integer >= 1, or BAD after a warning (a bad variable; read only when env_too is true).
local function samples(v, level, env_too)
  if v ~= nil then
    if not sysmetrics.valid_samples(v) then
      error("track.Callback: system_metrics_samples_before_logging must be an integer >= 1, got " ..
        tostring(v), level)
    end
    return v
  end
  local name = "MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING"
  local env = env_too and variable(name)
  if not env then return 1 end
  local n = env:match("^%s*%+?(%d+)%s*$") and math.tointeger(tonumber(env))
  if n == 0 then return 1 end
  if not n then return bad_variable(name, env, "a whole number of samples") end
  return n
end

-- A node name, nil (none: "" too), or BAD after a warning (a bad variable; read only when
-- env_too is true).
local function node_id(v, level, env_too)
  if v ~= nil then
    local problem = sysmetrics.node_id_problem(v)
    if problem then
      error("track.Callback: system_metrics_node_id " .. (type(v) == "string" and ("'" .. v .. "' ") or "") ..
        problem, level)
    end
    return v ~= "" and v or nil
  end
  local name = "MLFLOW_SYSTEM_METRICS_NODE_ID"
  local env = env_too and variable(name)
  if not env then return nil end
  local problem = sysmetrics.node_id_problem(env)
  if problem then return bad_variable(name, env, "a node name MLflow takes (it " .. problem .. ")") end
  return env
end

-- The settings, and where each comes from (for a conflict's message).
local SETTINGS = {
  { key = "interval", option = "system_metrics_interval", what = "the sampling interval",
    from = "$MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL or 5 s" },
  { key = "samples_before_logging", option = "system_metrics_samples_before_logging",
    what = "the samples before logging", from = "$MLFLOW_SYSTEM_METRICS_SAMPLES_BEFORE_LOGGING or 1" },
  { key = "node_id", option = "system_metrics_node_id", what = "the node id",
    from = "$MLFLOW_SYSTEM_METRICS_NODE_ID or none" },
}

-- M.resolve(opts, level): the callback's opts (system_metrics_* and system_metrics), level
-- error()'s level of the callback's caller as seen from the caller of resolve.
function M.resolve(opts, level)
  level = level + 2 -- (resolve, then the helper that raises)
  local s = { interval = interval(opts.system_metrics_interval, level) }
  -- (the variables are read only while the metrics are on: a bad one turns them off)
  local on = s.interval ~= false and s.interval ~= BAD
  local n = samples(opts.system_metrics_samples_before_logging, level, on)
  local node = node_id(opts.system_metrics_node_id, level, on)
  local bad = s.interval == BAD or n == BAD or node == BAD
  if bad then s.interval = false end
  s.samples_before_logging, s.node_id = (n ~= BAD and n) or 1, (node ~= BAD and node) or nil
  local o = opts.system_metrics
  if o == nil then return s end
  if type(o) ~= "table" then
    error("track.Callback: system_metrics must be a table of sampler options, got " .. type(o), level - 1)
  end
  U.options("track.Callback: system_metrics", o, sysmetrics.OPTIONS, level - 1)
  -- (a bad variable has turned the metrics off with its warning: nothing to conflict with)
  if bad then return s end
  for _, set in ipairs(SETTINGS) do
    local given, now = o[set.key], s[set.key]
    if set.key == "node_id" and given == "" then given = nil end
    if given ~= nil and given ~= now then
      error(string.format("track.Callback: system_metrics.%s = %s conflicts with %s %s (%s, %s); set it " ..
        "with %s", set.key, tostring(given), set.what, now == false and "false (none)" or tostring(now),
        set.option, set.from, set.option), level - 1)
    end
  end
  return s
end

return M
