-- graphids.track.artifact_uri -- the artifact locations a FileStore writes into meta.yaml, as
-- MLflow's FileStore writes them (mlflow/store/tracking/file_store.py): the store's artifact
-- root is path_to_local_file_uri(root), an experiment's artifact_location is that root with
-- the experiment id appended, and a run's artifact_uri is its experiment's artifact_location
-- with "<run_id>/artifacts" appended (append_to_uri_path).
--   local au = require "graphids.track.artifact_uri"
--   au.local_file_uri("/data/sp ace/mlruns")           -- "file:///data/sp%20ace/mlruns"
--   au.append("file:///data/sp%20ace/mlruns/1", "RUN/artifacts")
--                                       -- "file:///data/sp%20ace/mlruns/1/RUN/artifacts"
-- A folder name holding a space, '%', '#', '?' or a non-ASCII letter is thus percent-encoded,
-- and MLflow's client (local_file_uri_to_path) reads the URI back as the folder it names.
local M = {}

-- posixpath.normpath of an absolute path, as os.path.abspath gives it: "." and empty parts
-- go, ".." takes the part before it away (lexically, as Python does), and the trailing "/"
-- goes; exactly two leading slashes stay two (POSIX leaves their meaning to the system).
function M.normpath(path)
  local lead = (path:sub(1, 2) == "//" and path:sub(3, 3) ~= "/") and "//" or "/"
  local parts = {}
  for seg in path:gmatch("[^/]+") do
    if seg == ".." then
      parts[#parts] = nil
    elseif seg ~= "." then
      parts[#parts + 1] = seg
    end
  end
  return lead .. table.concat(parts, "/")
end

-- MLflow's path_to_local_file_uri of an absolute path (pathlib's as_uri of os.path.abspath):
-- "file://" and the normalized path with every byte but ASCII letters, digits, "_.-~" and "/"
-- written %XX (urllib's quote_from_bytes: upper-case hex, a UTF-8 letter byte by byte).
function M.local_file_uri(path)
  return "file://" .. M.normpath(path):gsub("[^%w_%.%-~/]", function(c)
    return string.format("%%%02X", c:byte())
  end)
end

-- posixpath.join(prefix, suffix without its leading "/"), prefix "" giving suffix
-- (mlflow.utils.uri._join_posixpaths_and_append_absolute_suffixes).
local function join(prefix, suffix)
  if prefix == "" then return suffix end
  suffix = suffix:gsub("^/+", "")
  if prefix:sub(-1) == "/" then return prefix .. suffix end
  return prefix .. "/" .. suffix
end

-- The schemes urllib writes "//" for with an empty host, and those whose last path part may
-- hold ";params" (urllib.parse.uses_netloc, uses_params).
local USES_NETLOC, USES_PARAMS = {}, {}
for s in ("ftp http gopher nntp telnet imap wais file mms https shttp snews prospero rtsp rtspu " ..
  "sftp svn svn+ssh ws wss"):gmatch("%S+") do USES_NETLOC[s] = true end
for s in ("ftp hdl prospero http imap https shttp rtsp rtspu sip sips mms sftp tel"):gmatch("%S+") do
  USES_PARAMS[s] = true
end

-- MLflow's append_to_uri_path(uri, path): path ("RUN/artifacts") joined to the path of uri as
-- urllib parses and writes it back (the scheme lower-cased; a query, a fragment and ";params"
-- stay after the path), or to uri itself when it has no scheme (a plain path).
function M.append(uri, path)
  local scheme, rest = uri:match("^(%a[%w+.%-]*):(.*)$")
  if not scheme then return join(uri, path) end
  scheme = scheme:lower()
  local netloc, p = nil, rest
  if rest:sub(1, 2) == "//" then netloc, p = rest:match("^//([^/?#]*)(.*)$") end
  local fragment = p:match("#(.*)$")
  p = p:gsub("#.*$", "")
  local query = p:match("%?(.*)$")
  p = p:gsub("%?.*$", "")
  local params
  if USES_PARAMS[scheme] then
    params = p:match("^.*/[^/;]*;(.*)$") or (not p:find("/", 1, true) and p:match(";(.*)$")) or nil
    if params then p = p:sub(1, #p - #params - 1) end
  end
  -- (a path that does not begin with "/" keeps "scheme:" in front, and urllib writes the rest as
  -- a URI without a scheme: MLflow's way around urlunparse making it absolute)
  local prefix = ""
  if p:sub(1, 1) ~= "/" then prefix, scheme = scheme .. ":", "" end
  local url = join(p, path)
  if (netloc or "") ~= "" or (USES_NETLOC[scheme] and url:sub(1, 2) ~= "//") then
    if url ~= "" and url:sub(1, 1) ~= "/" then url = "/" .. url end
    url = "//" .. (netloc or "") .. url
  end
  if params and params ~= "" then url = url .. ";" .. params end
  if scheme ~= "" then url = scheme .. ":" .. url end
  if query and query ~= "" then url = url .. "?" .. query end
  if fragment and fragment ~= "" then url = url .. "#" .. fragment end
  return prefix .. url
end

return M
