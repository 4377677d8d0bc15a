-- graphids.track.filestore -- an MLflow FileStore written directly: the layout that MLflow's own
-- FileStore reads (mlflow/store/tracking/file_store.py), so `mlflow ui --backend-store-uri
-- file:///abs/mlruns` (with MLFLOW_ALLOW_FILE_STORE=true on MLflow >= 3.13) or `mlflow
-- migrate-filestore` shows what graphids logged.
--   <root>/.trash/  <root>/0/meta.yaml (Default)
--   <root>/<exp_id>/meta.yaml             experiment: name, artifact_location, times
--   <root>/<exp_id>/<run_id>/meta.yaml    run info (status as MLflow's integer enum)
--   <root>/<exp_id>/<run_id>/params/<key> raw value, write-once
--   <root>/<exp_id>/<run_id>/tags/<key>   raw value, overwritten
--   <root>/<exp_id>/<run_id>/metrics/<key> lines "<timestamp_ms> <value> <step>", appended
-- meta.yaml, params and tags are replaced atomically; a metric line is one append(2), so a crash
-- never leaves a malformed file.  Keys with "/" become sub-folders, as in MLflow.
-- Methods as graphids.track.mlflow describes; each returns nil, message on failure (and the
-- code and status MLflow would answer when a batch is refused for what it holds).
local artifact_uri = require "graphids.track.artifact_uri"
local core = require "graphids.core"
local gio = require "graphids.io"
local mlflow = require "graphids.track.mlflow"

local FileStore = {}
FileStore.__index = FileStore
local RUN_KEY_TAG = "graphids.run_key" -- graphids.track.spool's client id of a run
FileStore.__name = "graphids.track.FileStore"

local function join(...)
  return (table.concat({ ... }, "/"):gsub("//+", "/"))
end

local read = gio.read_file -- the text, or nil when missing

-- A YAML scalar as yaml.safe_dump would accept back: strings single-quoted ('' escapes '), or
-- double-quoted with escapes when they hold a character that YAML readers refuse raw or read
-- as something else: C0 controls and DEL, the C1 controls U+0080-U+009F (PyYAML's reader stops
-- at "unacceptable character #x009f", and reads U+0085, a YAML line break, as a space), the line
-- and paragraph separators U+2028/U+2029, the byte order mark U+FEFF and U+FFFE/U+FFFF.
local DQ_ESC = { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r" }
local function needs_escape(cp)
  return cp < 0x20 or (cp >= 0x7F and cp <= 0x9F) or cp == 0x2028 or cp == 0x2029 or cp == 0xFEFF
    or cp == 0xFFFE or cp == 0xFFFF
end
local function yq(v)
  if v == nil then return "null" end
  if type(v) == "number" then return string.format("%d", v) end
  local s = tostring(v)
  if utf8.len(s) then
    local special = false
    for _, cp in utf8.codes(s) do
      if needs_escape(cp) then
        special = true
        break
      end
    end
    if special then
      local out = {}
      for _, cp in utf8.codes(s) do
        local c = utf8.char(cp)
        if DQ_ESC[c] then
          out[#out + 1] = DQ_ESC[c]
        elseif needs_escape(cp) then
          out[#out + 1] = string.format(cp < 0x100 and "\\x%02X" or "\\u%04X", cp)
        else
          out[#out + 1] = c
        end
      end
      return '"' .. table.concat(out) .. '"'
    end
  elseif s:find("[%c]") then -- not UTF-8 (no reader takes it whole): its ASCII controls escaped
    return '"' .. s:gsub('[%c\\"]', function(c)
      return DQ_ESC[c] or string.format("\\x%02X", c:byte())
    end) .. '"'
  end
  return "'" .. s:gsub("'", "''") .. "'"
end

-- The text of a double-quoted YAML scalar's escapes (those yq and yaml.safe_dump write).
local DQ_UNESC = { n = "\n", t = "\t", r = "\r", ['"'] = '"', ["\\"] = "\\", ["/"] = "/", ["0"] = "\0",
  a = "\a", b = "\b", e = "\27", f = "\f", v = "\v", [" "] = " ", ["\t"] = "\t", N = "\u{85}", _ = "\u{A0}",
  L = "\u{2028}", P = "\u{2029}" }
local DQ_HEX = { x = 2, u = 4, U = 8 }
local function unescape_dq(s)
  local out, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == "\\" and i < #s then
      local e = s:sub(i + 1, i + 1)
      local w = DQ_HEX[e]
      local hex = w and s:sub(i + 2, i + 1 + w)
      if w and #hex == w and not hex:find("%X") then
        out[#out + 1] = utf8.char(tonumber(hex, 16))
        i = i + 2 + w
      else
        out[#out + 1] = DQ_UNESC[e] or ("\\" .. e)
        i = i + 2
      end
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return table.concat(out)
end

-- Keys sorted, as yaml.safe_dump writes them.
local function yaml_dump(t)
  local lines = {}
  for _, k in ipairs(mlflow.sorted_keys(t)) do
    local v = t[k]
    if v == false then
      lines[#lines + 1] = k .. ": null"
    elseif type(v) == "table" then
      lines[#lines + 1] = k .. ": []"
    else
      lines[#lines + 1] = k .. ": " .. yq(v)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

-- The lines of a plain scalar folded as YAML folds one over lines: each line break with the
-- blanks around it becomes one space, or n newlines when n empty lines follow.  (Quoted
-- scalars: scan_quoted.)
local function fold(lines)
  local out = lines[1]:gsub("[ \t]+$", "")
  local i = 2
  while i <= #lines do
    local empty = 0
    while i <= #lines and lines[i]:match("^[ \t]*$") do
      empty, i = empty + 1, i + 1
    end
    if i > #lines then break end
    out = out .. (empty > 0 and ("\n"):rep(empty) or " ") .. lines[i]:gsub("^[ \t]+", ""):gsub("[ \t]+$", "")
    i = i + 1
  end
  return out
end

-- YAML's line breaks (1.1, as PyYAML reads them) at byte i of s: the break's length and what it
-- reads as: "\n" for CR LF, CR, LF and U+0085, itself for U+2028 and U+2029.  nil when none.
local BREAKS = { "\r\n", "\r", "\n", "\u{85}", "\u{2028}", "\u{2029}" }
local function line_break(s, i)
  for _, b in ipairs(BREAKS) do
    if s:sub(i, i + #b - 1) == b then return #b, (b == "\u{2028}" or b == "\u{2029}") and b or "\n" end
  end
  return nil
end

local function blank_end(s, i)
  while s:sub(i, i) == " " or s:sub(i, i) == "\t" do i = i + 1 end
  return i
end

-- PyYAML's scan_flow_scalar_breaks: the line breaks after one (each with the blanks before it),
-- and the position after them and the next line's indentation.
local function more_breaks(s, i)
  local out = {}
  while true do
    i = blank_end(s, i)
    local n, b = line_break(s, i)
    if not n then return out, i end
    out[#out + 1], i = b, i + n
  end
end

-- The value of a single- or double-quoted (dq) YAML scalar, s being the text after its opening
-- quote, read as PyYAML reads it (scan_flow_scalar): blanks before a line break go; a "\n"
-- break reads as a space, or as the breaks that follow it when there are some; a U+2028 or
-- U+2029 break reads as itself (PyYAML writes these raw in a single-quoted name, folding there);
-- the next line's indentation goes; in dq, an escaped break joins the lines without a space.
local function scan_quoted(s, dq)
  local out, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    local j = blank_end(s, i)
    local n, b = line_break(s, j)
    if n then
      local breaks
      breaks, i = more_breaks(s, j + n)
      if b ~= "\n" then
        out[#out + 1] = b
      elseif #breaks == 0 then
        out[#out + 1] = " "
      end
      for _, x in ipairs(breaks) do out[#out + 1] = x end
    elseif j > i then
      out[#out + 1], i = s:sub(i, j - 1), j
    elseif c == (dq and '"' or "'") then
      if dq or s:sub(i + 1, i + 1) ~= "'" then break end
      out[#out + 1], i = "'", i + 2
    elseif dq and c == "\\" and line_break(s, i + 1) then
      local breaks
      breaks, i = more_breaks(s, i + 1 + line_break(s, i + 1))
      for _, x in ipairs(breaks) do out[#out + 1] = x end
    elseif dq and c == "\\" then
      local w = DQ_HEX[s:sub(i + 1, i + 1)]
      local hex = w and s:sub(i + 2, i + 1 + w)
      local len = (hex and #hex == w and not hex:find("%X")) and 2 + w or 2
      out[#out + 1], i = unescape_dq(s:sub(i, i + len - 1)), i + len
    else
      out[#out + 1], i = c, i + 1
    end
  end
  return table.concat(out)
end

-- The value of a top-level `key:` line of a meta.yaml written by MLflow or by us (plain,
-- single- or double-quoted scalars), with the indented lines that continue it (a long value
-- that PyYAML folded).
local function yaml_get(text, key)
  local lines, pos = nil, 1
  while pos <= #text + 1 do
    local nl = text:find("\n", pos, true) or #text + 1
    local line = text:sub(pos, nl - 1)
    if lines == nil then
      local v = line:sub(1, #key + 1) == key .. ":" and line:match("^[^:]*: *(.*)$")
      if v and line:sub(#key + 2, #key + 2):match("^[ ]?$") then
        local c = v:sub(1, 1)
        -- (a quoted scalar goes on to its closing quote, whatever its lines start with)
        if c == "'" or c == '"' then return scan_quoted(text:sub(nl - #v + 1), c == '"') end
        lines = { v }
      end
    elseif line:match("^[ \t]") or line == "" then
      lines[#lines + 1] = line
    else
      break
    end
    pos = nl + 1
  end
  return lines and fold(lines)
end
FileStore.yaml_get = yaml_get -- for the read side (graphids.track.query)

local function fail(fmt, ...)
  return nil, "FileStore: " .. string.format(fmt, ...)
end

local function ensure(ok, err)
  if not ok then error(err, 0) end
  return ok
end

local function mkdir(path)
  ensure(core.mkdir_p(path))
end

-- The names in folder dir; none when it does not exist.  A folder that cannot be listed
-- (not a folder, no permission, an I/O error) raises: a store failure, which spools the event,
-- and never "no such run" (a resume would take that for a run that is gone and open a new one).
local function list_names(dir)
  local names, err = core.list_dir(dir)
  if names then return names end
  if tostring(err):find("No such file or directory", 1, true) then return {} end
  error("cannot list " .. dir .. ": " .. tostring(err), 0)
end

local function write_file(path, data)
  local dir = path:match("^(.*)/[^/]+$")
  if dir then mkdir(dir) end
  ensure(core.atomic_write(path, data))
end

-- ---------------------------------------------------------------- path lengths
--
-- Linux's PATH_MAX (<limits.h>): a path handed to the kernel holds at most 4095 bytes and its
-- NUL.  A longer one fails with ENAMETOOLONG, in a message the runtime cuts to 1 KiB, which
-- then lost the path's end and the reason; and the store was taken as down, so every later
-- event of the run was spooled, and no sync could ever deliver them.  A root too long for the
-- store's own files is refused when the store is opened (mlflow.classify: a configuration
-- error), and a key whose file would be too long is refused with its batch, as MLflow's
-- INVALID_PARAMETER_VALUE (set aside: the store is fine).
FileStore.PATH_MAX = 4096
-- Linux's NAME_MAX: one name in a path (a folder's or a file's) holds at most 255 bytes.
FileStore.NAME_MAX = mlflow.MAX_SEGMENT_BYTES
-- The most bytes the store's own names add below its root: "/<experiment id: up to 19
-- digits>/<run id: 32>/.graphids_tmp/" (write_run_file's staging folder) and the temporary
-- name core.atomic_write gives a 32-hex file there, ".<name>.tmp-<pid: up to 7 digits>-<count:
-- up to 20>": 1 + 19 + 1 + 32 + 15 + 66.
FileStore.RESERVE = 134

-- path for a message: its middle left out when it is long (at character boundaries).
local function shown(path)
  if #path <= 200 then return path end
  local a, b = 80, #path - 79
  while a > 1 and path:byte(a + 1) and path:byte(a + 1) >= 0x80 and path:byte(a + 1) < 0xC0 do a = a - 1 end
  while b < #path and path:byte(b) >= 0x80 and path:byte(b) < 0xC0 do b = b + 1 end
  return path:sub(1, a) .. "..." .. path:sub(b)
end

-- Why a FileStore cannot live at root (an absolute path): one of its folders' names is longer
-- than a name can be (mkdir_p fails on it with ENAMETOOLONG, as for a path too long), or its
-- files would be longer than a path can be; nil when it can.  (The names the store adds below
-- the root fit: ids are checked by check_id, keys by mlflow.key_problem.)
function FileStore.root_problem(root)
  for part in root:gmatch("[^/]+") do
    if #part > FileStore.NAME_MAX then
      return string.format("the FileStore folder %s has a name of %d bytes, '%s': a file or folder name " ..
        "holds at most %d bytes here (NAME_MAX %d); use shorter folder names", shown(root), #part,
        shown(part), FileStore.NAME_MAX, FileStore.NAME_MAX)
    end
  end
  local limit = FileStore.PATH_MAX - 1 - FileStore.RESERVE
  if #root <= limit then return nil end
  return string.format("the FileStore folder %s is %d bytes long: the store's files lie up to %d bytes " ..
    "below it, and a path holds at most %d bytes here (PATH_MAX %d); use a folder of at most %d bytes",
    shown(root), #root, FileStore.RESERVE, FileStore.PATH_MAX - 1, FileStore.PATH_MAX, limit)
end

-- Why the file of key under base (a run's metrics/, params/ or tags/) cannot be written: its
-- path would be longer than a path can be (nil when it is not).
local function key_path_problem(base, key)
  local path = join(base, key)
  if #path < FileStore.PATH_MAX then return nil end
  return string.format("'%s' would be the file %s, of %d bytes: a path holds at most %d bytes here " ..
    "(PATH_MAX %d)", shown(key), shown(path), #path, FileStore.PATH_MAX - 1, FileStore.PATH_MAX)
end

function FileStore.new(root)
  if type(root) ~= "string" or root == "" then
    return nil, "FileStore: root must be a non-empty path"
  end
  local self = setmetatable({ root = mlflow.absolute_path(root), exp_cache = {}, run_exp = {} }, FileStore)
  local why = FileStore.root_problem(self.root)
  if why then return nil, "FileStore: " .. why end
  return self
end

-- Runs fn under pcall so that file errors become nil, message.  An error raised as
-- {message, code, status} keeps the code and status MLflow would answer (a run that is gone:
-- graphids.track.mlflow.refused sets that one event aside instead of blocking the spool).
local function guarded(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if not res[1] then
    local e = res[2]
    if mlflow.is_interrupt(e) then error(e, 0) end -- a Ctrl-C is no store failure
    -- (a message from a nested guarded call has its prefix already)
    local function prefixed(m) return (m:match("^FileStore: ") and "" or "FileStore: ") .. m end
    if type(e) == "table" then return nil, prefixed(tostring(e[1])), e[2], e[3] end
    return nil, prefixed(tostring(e))
  end
  return table.unpack(res, 2, res.n)
end

-- The artifact_location of experiment id in this store, as MLflow's FileStore makes it (the
-- root as a percent-encoded file:// URI, then the id: graphids.track.artifact_uri).
local function experiment_location(self, id)
  return artifact_uri.append(artifact_uri.local_file_uri(self.root), id)
end

-- Whether location is the artifact_location an older graphids wrote for experiment id of this
-- store: "file://" and the experiment's folder unencoded (a '#' or '?' in it then begins a
-- fragment or a query, and a '%' an escape, so the URI names another folder).  An encoded one
-- (MLflow's, graphids' now) is that text only when the folder needs no encoding, and then both
-- name it, or when it names another folder whose encoding spells this one ('#' for a '%23' in
-- this folder's name), which no store writes for its own experiment.
local function unencoded_location(self, id, location)
  return location:sub(1, 8) == "file:///"
    and artifact_uri.normpath(location:sub(8)) == artifact_uri.normpath(join(self.root, id))
end

local function experiment_meta(self, id, name, now)
  return yaml_dump({ artifact_location = experiment_location(self, id), creation_time = now,
    experiment_id = id, last_update_time = now, lifecycle_stage = "active", name = name })
end

-- Creates the root with experiment 0 "Default" and .trash/ (so a read-only viewer never needs
-- to write) when they are missing.
function FileStore:init_root()
  return guarded(function()
    mkdir(join(self.root, ".trash"))
    if not core.stat(join(self.root, "0", "meta.yaml")) then
      write_file(join(self.root, "0", "meta.yaml"), experiment_meta(self, "0", "Default", mlflow.now_ms()))
    end
    return true
  end)
end

-- Experiment ids are large random decimal integers as MLflow's _generate_unique_integer_id
-- (digits only: MLflow's _has_existing_mlruns_data looks at all-digit folder names).
local function new_experiment_id()
  local hex = require("graphids.track.traces").random_hex(8)
  local n = tonumber(hex:sub(1, 15), 16) -- 60 bits
  return tostring(n % 900000000000000000 + 100000000000000000)
end

-- The id of the experiment called name and its lifecycle stage ("active" | "deleted"), or nil.
-- MLflow's delete_experiment moves the folder to <root>/.trash/<id>: a name found there is
-- "deleted" (MLflow's lookup by name sees deleted experiments too, and refuses to create a
-- second one of that name).  An active one wins over a deleted one.  Raises when the root
-- cannot be listed.
function FileStore:find_experiment(name)
  for _, base in ipairs({ self.root, join(self.root, ".trash") }) do
    local names = list_names(base)
    table.sort(names)
    for _, d in ipairs(names) do
      if d:match("^%d+$") then
        local meta = read(join(base, d, "meta.yaml"))
        if meta and yaml_get(meta, "name") == name then
          local stage = base == self.root and yaml_get(meta, "lifecycle_stage") or "deleted"
          return d, stage or "active"
        end
      end
    end
  end
  return nil
end

function FileStore:get_or_create_experiment(name)
  if type(name) ~= "string" or name == "" or name:find("[\r\n]") then
    return fail("experiment name must be a one-line non-empty string, got %q", tostring(name))
  end
  if self.exp_cache[name] then return self.exp_cache[name] end
  return guarded(function()
    ensure(self:init_root())
    -- Find-then-create under a lock: seeds launched together (an array job) would each create
    -- the experiment, and MLflow's lookup by name would see one of them.  (A dotfile: MLflow
    -- reads experiments from the numbered folders only.)
    local _ <close> = assert(core.lock(join(self.root, ".graphids_experiments.lock"),
      { exclusive = true, timeout = 60 }))
    local id, stage = self:find_experiment(name)
    if id and stage ~= "active" then
      error(string.format("experiment '%s' (%s) is deleted; restore it or pick another name", name, id), 0)
    end
    if not id then
      id = new_experiment_id()
      write_file(join(self.root, id, "meta.yaml"), experiment_meta(self, id, name, mlflow.now_ms()))
    end
    self.exp_cache[name] = id
    return id
  end)
end

-- Run and experiment ids name folders: anything but letters and digits (a spool edited by hand:
-- "../x") is refused as MLflow's server refuses an id it does not know, and so is an id longer
-- than those MLflow and graphids make (run ids of 32 hex digits, experiment ids of up to 19
-- digits: RESERVE counts on them; a 300-digit run_key written into a spool by hand failed
-- mkdir with "File name too long" at every sync, and the store was taken as down).
local ID_MAX = { ["run id"] = 32, ["experiment id"] = 19 }
local function check_id(what, id, pattern)
  if type(id) ~= "string" or not id:match(pattern) then
    error({ string.format("%s %q is not an id of this store", what, shown(tostring(id))),
      "INVALID_PARAMETER_VALUE", 400 }, 0)
  end
  if #id > ID_MAX[what] then
    error({ string.format("%s '%s' is not an id of this store: it is %d characters long (at most %d)", what,
      shown(id), #id, ID_MAX[what]), "INVALID_PARAMETER_VALUE", 400 }, 0)
  end
end

local function run_dir(self, run_id)
  check_id("run id", run_id, "^%w+$")
  local exp = self.run_exp[run_id]
  if exp == nil then
    for _, d in ipairs(list_names(self.root)) do
      if d:match("^%d+$") and core.stat(join(self.root, d, run_id, "meta.yaml")) then
        exp = d
        break
      end
    end
    if exp == nil then -- as MLflow's server answers: the request is refused, not the store
      error({ string.format("run '%s' not found under %s", run_id, self.root), "RESOURCE_DOES_NOT_EXIST",
        404 }, 0)
    end
    self.run_exp[run_id] = exp
  end
  return join(self.root, exp, run_id), exp
end

-- Refuses a run that is not active (deleted: meta.yaml's lifecycle_stage), as MLflow's
-- FileStore does (check_run_is_active) before writing anything to it.
local function check_active(dir, run_id)
  local meta = read(join(dir, "meta.yaml"))
  local stage = meta and yaml_get(meta, "lifecycle_stage") or "active"
  if stage ~= "active" then
    error({ string.format("The run %s must be in the 'active' state. Current state is %s.", run_id, stage),
      "INVALID_PARAMETER_VALUE", 400 }, 0)
  end
end

-- A param or tag file of the run at dir, replaced atomically by way of the run's own staging
-- folder: atomic_write's temporary file sits beside its target, and one left in params/ or tags/
-- by a killed process would read as a param or tag of that name in MLflow.  (MLflow reads the
-- run folder's meta.yaml and its known sub-folders only.)
local function write_run_file(dir, path, data)
  local staging = join(dir, ".graphids_tmp")
  mkdir(staging)
  local tmp = join(staging, mlflow.new_run_id())
  ensure(core.atomic_write(tmp, data))
  local ok, err = os.rename(tmp, path)
  if not ok then
    os.remove(tmp)
    error(string.format("cannot move %s into place: %s", path, tostring(err)), 0)
  end
end

local function write_tags(dir, tags)
  for _, t in ipairs(tags or {}) do
    local path = join(dir, "tags", t.key)
    mkdir(path:match("^(.*)/[^/]+$"))
    write_run_file(dir, path, t.value)
  end
end

-- Why the keys of one kind (metrics, params, tags) cannot all be files under base, or nil:
-- "a" and "a/b" cannot both exist, in the batch or with what the run already holds.
local function key_clash(base, list)
  local files, dirs = {}, {}
  for _, e in ipairs(list or {}) do
    files[e.key] = true
    local prefix = e.key:match("^(.*)/[^/]*$")
    while prefix do
      dirs[prefix] = true
      prefix = prefix:match("^(.*)/[^/]*$")
    end
  end
  for k in pairs(files) do
    local st = core.stat(join(base, k))
    if dirs[k] or (st and st.type ~= "file") then return k .. "' is also a folder of keys" end
  end
  for d in pairs(dirs) do
    local st = core.stat(join(base, d))
    if st and st.type ~= "dir" then return d .. "' is already a key and cannot hold sub-keys" end
  end
  return nil
end

-- spec: {experiment_id=, run_name=, start_time=, tags = list, run_id = optional (a client id)}
-- Everything that could refuse the run (a key MLflow refuses, tag keys that would be both a
-- file and a folder: " " and " /a") is checked before anything is written, and refused as
-- MLflow's INVALID_PARAMETER_VALUE.  The run's meta.yaml comes first, then its graphids.run_key
-- tag, then the other tags: a create that fails part-way (a write error) leaves a run that a
-- sync finds by its key.  A run folder with the client id spec.run_id that exists already (a
-- create whose answer was lost, or one that failed part-way) is the run: its missing tags are
-- written, and its id returned.
function FileStore:create_run(spec)
  return guarded(function()
    local run_id = spec.run_id or mlflow.new_run_id()
    local exp = tostring(spec.experiment_id)
    check_id("run id", run_id, "^%w+$")
    check_id("experiment id", exp, "^%d+$")
    local dir = join(self.root, exp, run_id)
    for _, t in ipairs(spec.tags or {}) do
      local why = mlflow.key_problem(t.key)
      if why then
        error({ string.format("tag key %q %s", tostring(t.key), why), "INVALID_PARAMETER_VALUE", 400 }, 0)
      end
      why = key_path_problem(join(dir, "tags"), t.key)
      if why then error({ "tag key " .. why, "INVALID_PARAMETER_VALUE", 400 }, 0) end
    end
    local exists = core.stat(join(dir, "meta.yaml")) ~= nil
    if exists and not spec.run_id then
      error(string.format("run '%s' already exists in experiment %s", run_id, exp), 0)
    end
    local user = mlflow.user_name()
    for _, t in ipairs(spec.tags or {}) do
      if t.key == "mlflow.user" then user = t.value end
    end
    -- the run key first (a run that a failure leaves half-written is found by it)
    local tags, rest = {}, { { key = "mlflow.runName", value = spec.run_name or run_id },
      { key = "mlflow.user", value = user } }
    for _, t in ipairs(spec.tags or {}) do
      if t.key == RUN_KEY_TAG then tags[#tags + 1] = t else rest[#rest + 1] = t end
    end
    for _, t in ipairs(rest) do tags[#tags + 1] = t end
    local clash = key_clash(join(dir, "tags"), tags)
    if clash then
      error({ string.format("tags of run %s: key '%s", run_id, clash), "INVALID_PARAMETER_VALUE", 400 }, 0)
    end
    if exists then
      check_active(dir, run_id)
      local missing = {}
      for _, t in ipairs(tags) do
        if not core.stat(join(dir, "tags", t.key)) then missing[#missing + 1] = t end
      end
      write_tags(dir, missing)
      self.run_exp[run_id] = exp
      return run_id
    end
    mkdir(join(dir, "artifacts"))
    for _, sub in ipairs({ "metrics", "params", "tags" }) do mkdir(join(dir, sub)) end
    -- the run's artifacts go under its experiment's artifact_location, as MLflow's FileStore
    -- puts them (_get_artifact_dir), whoever made the experiment; an older graphids' unencoded
    -- one names the experiment's folder encoded instead.  (The experiment's meta.yaml is left as
    -- it is: MLflow never changes an artifact_location, and rewrites that file itself, unlocked,
    -- on a rename or a delete, which a rewrite here could undo.)
    local exp_meta = read(join(self.root, exp, "meta.yaml"))
    local location = exp_meta and yaml_get(exp_meta, "artifact_location")
    if location == nil or location == "" or unencoded_location(self, exp, location) then
      location = experiment_location(self, exp)
    end
    -- meta.yaml first: a run folder without it breaks MLflow's listing of the whole experiment,
    -- while a run a kill left without its tags is only a run without tags
    write_file(join(dir, "meta.yaml"), yaml_dump({
      artifact_uri = artifact_uri.append(location, run_id .. "/artifacts"), deleted_time = false,
      end_time = false, entry_point_name = "", experiment_id = exp, lifecycle_stage = "active",
      run_id = run_id, run_name = spec.run_name or run_id, run_uuid = run_id, source_name = "",
      source_type = 4, source_version = "", start_time = spec.start_time or mlflow.now_ms(),
      status = mlflow.STATUS.RUNNING, tags = {}, user_id = user }))
    write_tags(dir, tags)
    self.run_exp[run_id] = exp
    return run_id
  end)
end

-- The run of experiment exp whose tag `key` equals value (nil when none).
function FileStore:find_run(exp, key, value)
  return guarded(function()
    local base = join(self.root, tostring(exp))
    local names = list_names(base)
    table.sort(names)
    for _, d in ipairs(names) do
      if d:match("^%x+$") and #d == 32 and read(join(base, d, "tags", key)) == value then
        self.run_exp[d] = tostring(exp)
        return d
      end
    end
    return false
  end)
end

local function metric_line(m)
  return string.format("%d %s %d\n", m.timestamp, mlflow.float_text(m.value), m.step or 0)
end

-- A refusal of the batch itself (MLflow's INVALID_PARAMETER_VALUE, HTTP 400): the store is
-- fine, sending the batch again cannot succeed (graphids.track.mlflow.refused).
local function refuse(fmt, ...)
  return nil, "FileStore: " .. string.format(fmt, ...), "INVALID_PARAMETER_VALUE", 400
end

-- Everything that could refuse the batch is checked before anything is written, so a refused
-- batch changes nothing (a half-applied one would duplicate metric lines when sent again).
local function check_batch(dir, run_id, batch)
  -- keys name files under the run: one MLflow refuses could reach outside it ("../meta.yaml")
  for _, kind in ipairs({ "params", "tags", "metrics" }) do
    for _, e in ipairs(batch[kind] or {}) do
      local why = mlflow.key_problem(e.key)
      if why then return refuse("%s of run %s: key %q %s", kind, run_id, tostring(e.key), why) end
      why = key_path_problem(join(dir, kind), e.key)
      if why then return refuse("%s of run %s: key %s", kind, run_id, why) end
    end
  end
  for _, kind in ipairs({ "params", "tags", "metrics" }) do
    local why = key_clash(join(dir, kind), batch[kind])
    if why then return refuse("%s of run %s: key '%s", kind, run_id, why) end
  end
  for _, p in ipairs(batch.params or {}) do
    local old = read(join(dir, "params", p.key))
    if old ~= nil and old ~= p.value then
      return refuse("param '%s' of run %s is already '%s'; changing param values is not allowed " ..
        "(new value '%s')", p.key, run_id, old, p.value)
    end
  end
  return true
end

-- The lines of the metric file at path, as a set, read once per store (a sync's store) and
-- kept up to date with what this store appends.
local function lines_of(self, path)
  self._metric_lines = self._metric_lines or {}
  local set = self._metric_lines[path]
  if set == nil then
    set = {}
    for l in (read(path) or ""):gmatch("[^\n]+") do set[l] = true end
    self._metric_lines[path] = set
  end
  return set
end

-- opts.sync: the batch comes from a spool's sync (graphids.track.spool), which may send again a
-- batch a killed sync wrote in part, after a resumed fit has logged past it: a point equal to
-- any line of its file is then not written twice (the files of a sync's runs are read once).
-- Live logging checks the last line only.
function FileStore:log_batch(run_id, batch, opts)
  local whole = type(opts) == "table" and opts.sync
  local dir, err, code, status = guarded(function()
    local d = run_dir(self, run_id)
    check_active(d, run_id)
    return d
  end)
  if not dir then return nil, err, code, status end
  local ok, why, rcode, rstatus = check_batch(dir, run_id, batch)
  if not ok then return nil, why, rcode, rstatus end
  return guarded(function()
    for _, p in ipairs(batch.params or {}) do
      local path = join(dir, "params", p.key)
      if read(path) == nil then
        mkdir(path:match("^(.*)/[^/]+$"))
        write_run_file(dir, path, p.value)
      end
    end
    write_tags(dir, batch.tags)
    for _, m in ipairs(batch.metrics or {}) do
      local path = join(dir, "metrics", m.key)
      local parent = path:match("^(.*)/[^/]+$")
      mkdir(parent)
      -- a sync killed between sending a batch and removing it from the spool sends it again:
      -- the point it already wrote last is not written twice
      local line = metric_line(m)
      if whole then
        local set = lines_of(self, path)
        if not set[line:sub(1, -2)] then
          ensure(core.append_file(path, line))
          set[line:sub(1, -2)] = true
        end
      elseif gio.last_line(path, 512) ~= line:sub(1, -2) then
        ensure(core.append_file(path, line))
      end
    end
    return true
  end)
end

-- Removes the tag key of run_id (MLflow's delete_tag); a tag the run does not have is no
-- error (MLflow's RESOURCE_DOES_NOT_EXIST for it would only say that it is gone already).
function FileStore:delete_tag(run_id, key)
  local why = mlflow.key_problem(key)
  if why then return refuse("tag of run %s: key %q %s", tostring(run_id), tostring(key), why) end
  return guarded(function()
    local dir = run_dir(self, run_id)
    check_active(dir, run_id)
    local path = join(dir, "tags", key)
    if core.stat(path) then
      local ok, err = os.remove(path)
      if not ok then error(string.format("cannot remove %s: %s", path, tostring(err)), 0) end
    end
    return true
  end)
end

-- {key = value} of the params among keys that run_id has.
function FileStore:get_params(run_id, keys)
  return guarded(function()
    local dir = run_dir(self, run_id)
    local out = {}
    for _, k in ipairs(keys) do out[k] = read(join(dir, "params", k)) end
    return out
  end)
end

local STATUS_NAME = {}
for name, n in pairs(mlflow.STATUS) do STATUS_NAME[n] = name end

-- The largest step in the metric files under dir (a folder of metrics/: keys with "/" are
-- sub-folders), false when there is none; raises for a file or folder that cannot be read.
-- Every line counts, as MLflow's FileStore reads a key's latest value (the largest (step,
-- timestamp, value)): a late sync appends older steps after newer ones.
local function largest_step(dir)
  local best = false
  for _, name in ipairs(list_names(dir)) do
    local path = join(dir, name)
    local s
    if gio.is_dir(path) then
      s = largest_step(path)
    else
      local text = read(path)
      if text == nil then error("cannot read " .. path, 0) end
      for line in text:gmatch("[^\n]+") do
        -- (an older "<timestamp> <value>" line is step 0 to MLflow)
        local step = line:match("^%-?%d+ %S+ (%-?%d+)%s*$") or (line:match("^%-?%d+ %S+%s*$") and "0")
        local n = step and math.tointeger(tonumber(step))
        if n and (not s or n > s) then s = n end
      end
    end
    if s and (not best or s > best) then best = s end
  end
  return best
end

-- {status = "FINISHED", start_time =, end_time = (nil while none), lifecycle_stage = "active" |
-- "deleted", resumed_time = (graphids.resumed_time, nil when not resumed)} of run_id, from its
-- meta.yaml (MLflow's runs/get).  opts.system_step: also run_key (its graphids.run_key) and
-- system_step, the largest step of its system/ metrics (false: none; graphids.track.system_step),
-- or system_step_error, why the files could not say (the run's info stands all the same).
function FileStore:get_run_info(run_id, opts)
  return guarded(function()
    local dir = run_dir(self, run_id)
    local meta = read(join(dir, "meta.yaml"))
    if meta == nil then error("cannot read " .. join(dir, "meta.yaml"), 0) end
    local status = yaml_get(meta, "status")
    local info = { status = STATUS_NAME[tonumber(status)] or status,
      start_time = tonumber((yaml_get(meta, "start_time"))),
      end_time = tonumber((yaml_get(meta, "end_time"))),
      lifecycle_stage = yaml_get(meta, "lifecycle_stage") or "active",
      resumed_time = tonumber((read(join(dir, "tags", "graphids.resumed_time")))) }
    if opts and opts.system_step then
      info.run_key = read(join(dir, "tags", RUN_KEY_TAG))
      local prefix = require("graphids.track.system_step").PREFIX:gsub("/$", "")
      local ok, s = pcall(largest_step, join(dir, "metrics", prefix))
      if ok then info.system_step = s else info.system_step_error = tostring(s) end
    end
    return info
  end)
end

function FileStore:update_run(run_id, status, end_time)
  return guarded(function()
    local code = mlflow.STATUS[status]
    if code == nil then error("unknown run status '" .. tostring(status) .. "'", 0) end
    local dir = run_dir(self, run_id)
    check_active(dir, run_id)
    local path = join(dir, "meta.yaml")
    local meta = read(path)
    if meta == nil then error("cannot read " .. path, 0) end
    meta = meta:gsub("\nstatus: [^\n]*", "\nstatus: " .. code)
    if end_time then
      meta = meta:gsub("\nend_time: [^\n]*", "\nend_time: " .. string.format("%d", end_time))
    end
    write_file(path, meta)
    return true
  end)
end

-- Sets the start_time (ms) of run_id: a late sync gives a run that a resume created the start
-- of the fit it resumed (graphids.track.spool; MLflow's server has no such request).
function FileStore:set_start_time(run_id, start_time)
  return guarded(function()
    local dir = run_dir(self, run_id)
    check_active(dir, run_id)
    local path = join(dir, "meta.yaml")
    local meta = read(path)
    if meta == nil then error("cannot read " .. path, 0) end
    local n
    meta, n = meta:gsub("\nstart_time: [^\n]*", "\nstart_time: " .. string.format("%d", start_time))
    if n ~= 1 then error(path .. " has no start_time", 0) end
    write_file(path, meta)
    return true
  end)
end

function FileStore:describe()
  return "file://" .. self.root
end

return FileStore
