-- graphids.track.mlflow -- what both MLflow backends share: key and value rules, parameter
-- flattening, times and ids, and the choice of backend from the tracking URI.
--   local mlflow = require "graphids.track.mlflow"
--   local store = mlflow.store()          -- from MLFLOW_TRACKING_URI, else <lake_root>/mlruns
--   local exp = assert(store:get_or_create_experiment("graphids/hcrl_sa/gat"))
--   local run_id = assert(store:create_run{experiment_id = exp, run_name = "r1",
--                                          start_time = mlflow.now_ms(), tags = {...}})
--   assert(store:log_batch(run_id, {metrics = {{key=, value=, timestamp=, step=}},
--                                   params = {{key=, value=}}, tags = {{key=, value=}}}))
--   assert(store:update_run(run_id, "FINISHED", mlflow.now_ms()))
--
-- Both stores (graphids.track.filestore, graphids.track.rest) have these methods plus
-- find_run(experiment_id, tag_key, tag_value), get_params(run_id, keys), get_run_info(run_id)
-- and delete_tag(run_id, key) (true when the run has no such tag either), and the FileStore
-- set_start_time(run_id, ms) (a server cannot change a start_time); each returns its
-- result, or nil, message, code, status on any failure (never raises for a tracking problem;
-- status is the HTTP status MLflow answers, see refused()).  Limits are MLflow 3.x's
-- (mlflow/utils/validation.py): keys at most 250 characters of [\w./ :-] (Python's Unicode \w) forming a
-- normalised relative path, param values 6000 and tag values 8000 characters.
local core = require "graphids.core"
local json = require "graphids.json"

local M = {}

M.MAX_KEY = 250
-- A key's path segments name files in a FileStore (metrics/<key>, and on an MLflow server
-- whose backend is one): a file name holds at most 255 bytes (NAME_MAX), which 128 Cyrillic or
-- 86 CJK characters pass, well within MLflow's 250 characters.
M.MAX_SEGMENT_BYTES = 255
M.MAX_PARAM_VALUE = 6000
M.MAX_TAG_VALUE = 8000
M.STATUS = { RUNNING = 1, SCHEDULED = 2, FINISHED = 3, FAILED = 4, KILLED = 5 }

function M.now_ms()
  return math.floor(core.wall_time() * 1000)
end

-- 128 random bits as 32 lowercase hex digits (uuid4().hex's shape).
function M.new_run_id()
  return require("graphids.track.traces").random_hex(16)
end

-- Whether the UTF-8 character ch may stand in a key: MLflow's check is Python's
-- r"^[/\w.\- :]*$", and Python's \w is Unicode-aware (letters and digits of any script, "_"),
-- so "ключ" and "精度" are keys as they are (graphids.track.unicode_word holds the ranges).
local WORD = require "graphids.track.unicode_word"
local function key_char(ch)
  if #ch == 1 then return ch:match("^[%w_%./ :%-]$") ~= nil end
  local ok, cp = pcall(utf8.codepoint, ch)
  if not ok then return false end
  local lo, hi = 1, #WORD // 2
  while lo <= hi do
    local mid = (lo + hi) // 2
    if cp < WORD[2 * mid - 1] then
      hi = mid - 1
    elseif cp > WORD[2 * mid] then
      lo = mid + 1
    else
      return true
    end
  end
  return false
end
M.key_char = key_char

-- A key MLflow accepts, from any string: "@" becomes "_at_" (as the reference did), each other
-- character that is neither a letter or digit (of any script, as MLflow's \w) nor one of
-- "_./ :-" becomes one "_" (bytes that are not UTF-8 one each), empty, "." and ".." path
-- segments and leading/trailing "/" are dropped, and the result is cut to 250 characters and
-- each path segment to 255 bytes (a file name), at a character boundary.
local function path_segments(s)
  local segs = {}
  for seg in s:gmatch("[^/]+") do
    if seg ~= "." and seg ~= ".." then segs[#segs + 1] = seg end
  end
  return table.concat(segs, "/")
end

-- MLflow refuses a key whose normalised path begins with ".." ("..foo", "../x"): it would name
-- a file outside the run.
local function leading_dots(s)
  return s:sub(1, 2) == ".." and "_" .. s or s
end

-- UTF-8 s cut to at most n bytes, at a character boundary.
local function cut_bytes(s, n)
  if #s <= n then return s end
  local i = n + 1
  while i > 1 and (s:byte(i) or 0) >= 0x80 and s:byte(i) < 0xC0 do i = i - 1 end
  return s:sub(1, i - 1)
end

-- A sanitised key cut so that `room` more characters (and bytes: ASCII) fit after it: at most
-- MAX_KEY - room characters, every segment at most MAX_SEGMENT_BYTES bytes and the last one
-- MAX_SEGMENT_BYTES - room.  (A cut never leaves an empty, "." or ".." segment: a segment is
-- cut only when it is longer than 250 bytes, and the first cut keeps the key's start.)
local function fit(s, room)
  if utf8.len(s) > M.MAX_KEY - room then
    s = M.truncate(leading_dots(path_segments(M.truncate(s, M.MAX_KEY - room))), M.MAX_KEY - room)
  end
  local segs = {}
  for seg in s:gmatch("[^/]+") do segs[#segs + 1] = seg end
  for i, seg in ipairs(segs) do
    segs[i] = cut_bytes(seg, M.MAX_SEGMENT_BYTES - (i == #segs and room or 0))
  end
  return table.concat(segs, "/")
end

function M.sanitize_key(k)
  local s = M.utf8_clean(tostring(k):gsub("@", "_at_")):gsub(utf8.charpattern, function(ch)
    return not key_char(ch) and "_" or nil
  end)
  s = path_segments(s)
  -- the cut can end the key in a new "." or ".." segment ("x/..y" -> "x/."): MLflow refuses
  -- such a key, so the segments are checked again after it
  s = fit(leading_dots(s), 0)
  if s == "" then s = "_" end
  return s
end

-- sanitised key k with suffix (ASCII key characters) added, cut so that the suffix is kept.
function M.key_with_suffix(k, suffix)
  return fit(k, #suffix) .. suffix
end

-- Why MLflow would refuse k as a metric, param or tag key, or nil: sanitize_key's output never
-- is; a key written by hand into a spool (or by an older graphids, which cut keys at 250
-- characters only) or given to a store directly may be.  A path segment longer than 255 bytes
-- cannot be a file name: a FileStore refuses it as a bad key, where it would fail with "File
-- name too long" at every sync of the spool.
function M.key_problem(k)
  if type(k) ~= "string" or k == "" then return "must be a non-empty string" end
  if not utf8.len(k) then return "is not UTF-8 text" end
  if utf8.len(k) > M.MAX_KEY then return string.format("is longer than %d characters", M.MAX_KEY) end
  for _, c in utf8.codes(k) do
    local ch = utf8.char(c)
    if not key_char(ch) then
      return string.format("holds the character %q (letters, digits, _ . / - : and space)", ch)
    end
  end
  if k:sub(1, 1) == "/" or k:sub(-1) == "/" or k:find("//", 1, true) or path_segments(k) ~= k
    or k:sub(1, 2) == ".." then
    return "is not a plain relative path (no leading, trailing or double '/', no '.' or '..' part, " ..
      "no leading '..')"
  end
  for seg in k:gmatch("[^/]+") do
    if #seg > M.MAX_SEGMENT_BYTES then
      return string.format("has a path part of %d bytes (a file name holds at most %d)", #seg,
        M.MAX_SEGMENT_BYTES)
    end
  end
  return nil
end

-- s with every byte that is not part of valid UTF-8 replaced by U+FFFD: MLflow's JSON (and
-- the spool's) must be UTF-8, and a Latin-1 run dir or config value would otherwise make the
-- whole event impossible to send or spool.
function M.utf8_clean(s)
  if utf8.len(s) then return s end
  local out, pos = {}, 1
  while true do
    local n, bad = utf8.len(s, pos)
    if n then
      out[#out + 1] = s:sub(pos)
      return table.concat(out)
    end
    out[#out + 1] = s:sub(pos, bad - 1) .. "\u{FFFD}"
    pos = bad + 1
  end
end

-- A copy of v with utf8_clean applied to every string in it, keys included (tables keep their
-- metatables: json.array marks).
function M.clean_strings(v)
  if type(v) == "string" then return M.utf8_clean(v) end
  if type(v) ~= "table" or v == json.null then return v end
  local out = {}
  for k, x in pairs(v) do out[M.clean_strings(k)] = M.clean_strings(x) end
  return setmetatable(out, getmetatable(v))
end

-- s cut to n characters (code points when s is UTF-8, as Python's len counts; bytes otherwise).
function M.truncate(s, n)
  local len = utf8.len(s)
  if len == nil then
    return #s > n and s:sub(1, n) or s
  end
  if len <= n then return s end
  return s:sub(1, utf8.offset(s, n + 1) - 1)
end

-- A value as MLflow param/tag text: nil/json.null "", booleans "true"/"false", integers as
-- digits, floats in their shortest round-trip form (float_text), tables as compact JSON.
function M.value_text(v)
  if v == nil or v == json.null then return "" end
  local t = type(v)
  if t == "string" then return M.utf8_clean(v) end
  if t == "number" then
    if math.type(v) == "integer" then return tostring(v) end
    return M.float_text(v)
  end
  if t == "boolean" then return tostring(v) end
  if t == "table" then
    local ok, s = pcall(json.encode, require("graphids.track.traces").plain(M.clean_strings(v)))
    if ok then return s end
  end
  return M.utf8_clean(tostring(v))
end

-- The shortest %.Ng (15..17) that reads back to the same double; non-finite as Python prints
-- them ("nan", "inf", "-inf").  Integral values keep ".0" as Python's repr does.
function M.float_text(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  local s
  for digits = 15, 17 do
    s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then break end
  end
  if not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    return tostring(a) < tostring(b)
  end)
  return keys
end
M.sorted_keys = sorted_keys

local function is_array(t)
  if json.is_array(t) then return true end
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n > 0 and n == #t
end

-- Two different keys can sanitise to the same one ("a@b" and "a_at_b"); MLflow refuses a batch
-- with a repeated param key, so later ones get "_2", "_3", ... (in sorted order: stable).
local function unique(list)
  local seen = {}
  for _, e in ipairs(list) do
    local k, n = e.key, 1
    while seen[k] do
      n = n + 1
      k = M.key_with_suffix(e.key, "_" .. n)
    end
    seen[k], e.key = true, k
  end
  return list
end

-- A nested config table as a sorted list of {key = "a.b.c", value = "text"}: tables nest with
-- dots, arrays stay one value (JSON text), keys are sanitised and values cut to 6000.
function M.flatten(tbl, prefix, out)
  if out == nil then return unique(M.flatten(tbl, prefix, {})) end
  for _, k in ipairs(sorted_keys(tbl)) do
    local v = tbl[k]
    local key = prefix and (prefix .. "." .. tostring(k)) or tostring(k)
    if type(v) == "table" and v ~= json.null and getmetatable(v) == nil and not is_array(v)
        and next(v) ~= nil then
      M.flatten(v, key, out)
    elseif type(v) ~= "function" then
      out[#out + 1] = { key = M.sanitize_key(key), value = M.truncate(M.value_text(v), M.MAX_PARAM_VALUE) }
    end
  end
  return out
end

-- {key = value} -> sorted list of {key, value} tags (sanitised keys, values cut to 8000).
function M.tag_list(t)
  local out = {}
  for _, k in ipairs(sorted_keys(t or {})) do
    out[#out + 1] = { key = M.sanitize_key(k), value = M.truncate(M.value_text(t[k]), M.MAX_TAG_VALUE) }
  end
  return unique(out)
end

-- A metric step as MLflow takes it: a whole number in int64 (nil is 0; 3.0 is 3).  The step,
-- or nil, message: 2.5 or 1e20 would otherwise be logged at another step without a word.
function M.step_of(step)
  if step == nil then return 0 end
  local s = math.type(step) == "integer" and step or (type(step) == "number" and math.tointeger(step))
  if s then return s end
  return nil, string.format("a metric step must be a whole number (a 64-bit integer), got %s",
    step ~= step and "NaN" or type(step) == "number" and string.format("%.17g", step) or type(step))
end

-- {key = number} -> sorted list of metrics at `step` (non-numbers are dropped: a metric is a
-- number; booleans count as 0/1 the way MLflow refuses them, so they are dropped too).  A step
-- that is not a whole number is an error.
function M.metric_list(t, step, timestamp)
  local out = {}
  local s, err = M.step_of(step)
  if not s then error("mlflow.metric_list: " .. err, 2) end
  timestamp = timestamp or M.now_ms()
  for _, k in ipairs(sorted_keys(t or {})) do
    local v = t[k]
    if type(v) == "number" then
      out[#out + 1] = { key = M.sanitize_key(k), value = v + 0.0, timestamp = timestamp, step = s }
    end
  end
  return unique(out)
end

-- Whether an error object caught by a pcall is the host's Ctrl-C ("interrupted!", raised
-- by its hook wherever the code was): tracking turns other errors into warnings and goes on,
-- but an interrupt is raised again once the event is safe, so that it stops the program at once.
function M.is_interrupt(e)
  return type(e) == "string" and e:match("interrupted!$") ~= nil
end

-- Statuses that say nothing about the request itself: credentials (401, 403, 407) and
-- "try again" (408, 429) concern every request to the store.
local STORE_WIDE = { [401] = true, [403] = true, [407] = true, [408] = true, [429] = true }

-- Codes that are no answer of MLflow's: graphids.track.rest's names for a transport failure,
-- a body that is not MLflow's JSON error ("HTTP_400": a proxy's HTML page) and a bad 200.
local function mlflow_code(code)
  return type(code) == "string" and code ~= "" and not code:match("^HTTP_") and code ~= "CONNECTION_ERROR"
    and code ~= "BAD_RESPONSE"
end

-- Whether a store's failure (code, status: the 3rd and 4th results of a store method) refused
-- that one request for what it holds (a param logged again with another value, a run that is
-- gone): sending it again cannot succeed, but the store is fine for other requests.  Only an
-- MLflow answer refuses: a 4xx whose body is not MLflow's JSON error (a proxy's "400 The plain
-- HTTP request was sent to HTTPS port" page), like a 404 without MLflow's
-- RESOURCE_DOES_NOT_EXIST (a wrong URL, not a missing run), says nothing of the request: it is
-- store-wide, and the event is spooled for a later sync.
function M.refused(code, status)
  if type(status) ~= "number" or status < 400 or status >= 500 or STORE_WIDE[status] then return false end
  if not mlflow_code(code) then return false end
  return status ~= 404 or code == "RESOURCE_DOES_NOT_EXIST"
end

-- Whether a failure says the store is down for a while (graphids.track's DOWN_FOR): no answer
-- came (a connection error or timeout, after the retries), or the server answered 5xx, 408 or
-- 429 until the retries ran out.  A refusal, a credential error or a bad answer costs no
-- waiting, so later runs try the store again at once.
function M.store_down(code, status)
  if code == "CONNECTION_ERROR" then return true end
  return type(status) == "number" and (status >= 500 or status == 408 or status == 429)
end

-- uri without the user-info part (http://user:password@host -> http://host): what is shown,
-- traced and spooled, so a password in MLFLOW_TRACKING_URI never reaches a file or a terminal.
-- Other URIs as they are.
function M.redact_uri(uri)
  if type(uri) ~= "string" then return uri end
  local scheme, auth, rest = uri:match("^(%a[%w+.%-]*://)([^/?#]*)(.*)$")
  if not scheme then return uri end
  local at = auth:match("^.*()@")
  if not at then return uri end
  return scheme .. auth:sub(at + 1) .. rest
end

-- uri as an error message shows it: redact_uri's form, and for a malformed one that still
-- begins like a URL (http:user:pw@host, http//user:pw@host, http:///user:pw@host) everything
-- between its scheme and the last '@', which may hold a password.
function M.display_uri(uri)
  if type(uri) ~= "string" then return uri end
  local r = M.redact_uri(uri)
  if r ~= uri or not uri:find("@", 1, true) then return r end
  local prefix = uri:match("^%a[%w+.%-]*:/*") or uri:match("^%a[%w+.%-]*//")
  if prefix == nil then return uri end
  return prefix .. uri:sub(uri:match("^.*()@") + 1)
end

-- The user-info of uri ("user", "password", percent-decoded; nil when there is none).
function M.uri_credentials(uri)
  local auth = type(uri) == "string" and uri:match("^%a[%w+.%-]*://([^/?#]*)") or nil
  local info = auth and auth:match("^(.*)@")
  if not info then return nil end
  local function dec(s)
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
  end
  local user, pass = info:match("^([^:]*):(.*)$")
  if not user then user = info end
  return dec(user), pass and dec(pass) or nil
end

-- The tracking URI in use: opts.uri, else $MLFLOW_TRACKING_URI, else file:<lake_root>/mlruns.
function M.tracking_uri(opts)
  opts = opts or {}
  local uri = opts.uri
  if uri == nil or uri == "" then uri = os.getenv("MLFLOW_TRACKING_URI") end
  if uri == nil or uri == "" then
    local lake = opts.lake_root
    if lake == nil or lake == "" then lake = os.getenv("GRAPHIDS_LAKE_ROOT") end
    if lake == nil or lake == "" then lake = "lake" end
    uri = lake .. "/mlruns"
  end
  return uri
end

-- The user MLflow records (tag mlflow.user, a FileStore run's user_id): getpass.getuser()'s
-- answer, the first non-empty of LOGNAME, USER, LNAME and USERNAME, else the password
-- database's name of the real user id, else "unknown" (MLflow's default when getpass fails).
function M.user_name()
  for _, k in ipairs({ "LOGNAME", "USER", "LNAME", "USERNAME" }) do
    local v = os.getenv(k)
    if v and v ~= "" then return v end
  end
  return core.user_name() or "unknown"
end

-- The path of a file: URI as MLflow reads it (mlflow.utils.file_utils.local_file_uri_to_path:
-- urllib's urlparse, then unquote): a query or fragment is not part of the path, %XX escapes
-- are decoded (file:///tmp/sp%20ace is the folder "sp ace"), and the host must be empty,
-- localhost or 127.0.0.1 (mlflow.utils.uri.is_local_uri refuses any other).  nil, message for
-- another host or no path.
local function file_uri_path(uri)
  local rest = uri:match("^[Ff][Ii][Ll][Ee]:(.*)$"):gsub("[?#].*$", "")
  local path = rest
  if rest:sub(1, 2) == "//" then
    local host
    host, path = rest:match("^//([^/]*)(.*)$")
    local name = host:gsub("^.*@", ""):gsub(":%d*$", ""):lower()
    if name ~= "" and name ~= "localhost" and name ~= "127.0.0.1" then
      return nil, string.format("tracking URI '%s' names the host '%s': a FileStore must be local " ..
        "(file:///path or file://localhost/path; use http(s)://host:port for a server)", M.display_uri(uri),
        host)
    end
  end
  path = path:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
  if path == "" then return nil, string.format("tracking URI '%s' has no path", M.display_uri(uri)) end
  if path:find("\0", 1, true) then
    return nil, string.format("tracking URI '%s' holds a NUL byte (%%00), which no path can",
      M.display_uri(uri))
  end
  return path
end

-- file: and the path as a file: URI that file_uri_path reads back as it is ('%', '?' and '#'
-- escaped).
function M.file_uri(path)
  return "file:" .. path:gsub("[%%?#]", function(c) return string.format("%%%02X", c:byte()) end)
end

-- What a URI names: "rest", uri; "file", path; or nil, message for a scheme this runtime
-- does not speak (sqlite:, postgresql:, databricks, ...), with the way out.
function M.classify(uri)
  if uri:match("^[Hh][Tt][Tt][Pp][Ss]?://") then
    -- without a host, curl would fail at every request and the spool could never be sent
    if not M.redact_uri(uri):match("^%a+://[^/?#]+") then
      return nil, string.format("tracking URI '%s' has no host: use http(s)://host:port", M.display_uri(uri))
    end
    return "rest", uri
  end
  -- "http//host:5000" (a ':' lost) is a valid relative path, but taking it as one would
  -- silently log to a FileStore under ./http/ instead of the server
  if uri:match("^[Hh][Tt][Tt][Pp][Ss]?//") or uri:match("^[Hh][Tt][Tt][Pp][Ss]?:/[^/]") then
    return nil, string.format("tracking URI '%s' looks like a mistyped URL: use http(s)://host:port",
      M.display_uri(uri))
  end
  local path, err
  if uri:match("^[Ff][Ii][Ll][Ee]:") then
    path, err = file_uri_path(uri)
    if not path then return nil, err end
  elseif not uri:match("^[%a][%w+.%-]*:") then
    path = uri
  else
    return nil, string.format("tracking URI '%s' is not supported: use http(s)://host:port of an " ..
      "mlflow server, or file:/path (or a plain path) for a local FileStore", M.display_uri(uri))
  end
  -- (a folder too long for the store's files: no sync of its spool could ever succeed)
  local why = require("graphids.track.filestore").root_problem(M.absolute_path(path))
  if why then return nil, "tracking URI: " .. why end
  return "file", path
end

-- Absolute form of a path (artifact URIs must be absolute file:// URIs, and a spooled URI must
-- name the same store when `graphids track sync` runs from another folder).
function M.absolute_path(path)
  if path:sub(1, 1) == "/" then return path end
  -- (the kernel's folder, not $PWD: a program started elsewhere inherits its parent's $PWD)
  local cwd = core.getcwd() or "."
  return ((cwd .. "/" .. path):gsub("/%./", "/"):gsub("/%.$", ""))
end

-- uri with a relative FileStore path made absolute (file:rel -> file:/cwd/rel, rel -> /cwd/rel);
-- other URIs as they are.
function M.absolute_uri(uri)
  local kind, path = M.classify(uri)
  if kind ~= "file" or path:sub(1, 1) == "/" then return uri end
  local abs = M.absolute_path(path)
  return uri:match("^[Ff][Ii][Ll][Ee]:") and M.file_uri(abs) or abs
end

-- The store for a URI: http(s):// -> REST, file: or a plain path -> FileStore; anything else
-- is refused (classify).  Returns store or nil, message.
function M.store(opts)
  local kind, where = M.classify(M.tracking_uri(opts))
  if kind == nil then return nil, where end
  if kind == "rest" then return require("graphids.track.rest").new(where, opts) end
  return require("graphids.track.filestore").new(where)
end

return M
