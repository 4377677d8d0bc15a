-- graphids.ckpt -- checkpoint files: contents, verified atomic writes, sidecars, markers and
-- the compatibility guard.
--   local ckpt = require "graphids.ckpt"
--   ckpt.save(path, {model = model:state_dict(), epoch = 3, global_step = 120, ...})
--   local c = ckpt.load(path)        -- verified against path .. ".sha256"; raises on mismatch
--   model:load_state_dict(c.model)   -- c.epoch, c.metrics, c.callbacks, c.optimizer, ...
--   ckpt.check_compat(c, model, {vocab_digest = d})   -- one error listing every mismatch
--   ckpt.touch_marker(run_dir .. "/.train_complete")
-- docs/checkpoints.md describes the file layout (tensor names, metadata keys) and the write
-- protocol.
--
-- Power-cut semantics.  A checkpoint FILE is written in three durable steps:
--   1. the new contents go to `.FILE.pending` through graphids.save_safetensors (temp file,
--      fsync, rename, fsync of the directory);
--   2. the sidecar FILE.sha256 is rewritten (atomically, the same way) to list the NEW digest
--      first and the digest of the file now at FILE second;
--   3. `.FILE.pending` is renamed over FILE, then the sidecar is rewritten with the new digest
--      alone; that last atomic write fsyncs the directory, which makes the rename durable too.
-- A crash (kill, power cut) at any instant leaves FILE either the old or the new complete
-- version, and the sidecar always lists the digest of whichever is there: step 2 is durable
-- before the rename can happen, and the one-line sidecar is only written after it.  So a
-- verified load never fails because of an interrupted write, and a FILE that matches no listed
-- digest really is corrupt.  Leftovers of a killed writer (`.FILE.pending`, `.FILE.tmp-PID-N`)
-- are complete-or-garbage files that nothing reads; remove_stale() deletes them.
-- Markers are empty files written the same way (temp, fsync, rename, fsync of the directory).
local graphids = require "graphids"
local gio = require "graphids.io"
local json = require "graphids.json"
local U = require "graphids.nn._util"
local Filled = require "graphids.nn.filled_state"

local M = {}

-- A string from a file (a tensor name, a metadata value, a sidecar line) or a caller (a path) as
-- a message shows it: control characters, C1 controls and the bytes of text that is not UTF-8 as
-- \xNN (json.printable, the rule of the C reader's messages), so no byte of a foreign file
-- reaches a terminal raw.  Names are cut after 160 characters, as the C reader cuts them.
local function shown(s, max)
  return json.printable(tostring(s), max)
end
local NAME_MAX = 160

-- Version of the layout below; load() refuses files of a newer version.
M.FORMAT_VERSION = 1

M.DEFAULT_ID_ENCODER = "graphids.models.id_encoder.LookupIdEncoder"

-- ---------------------------------------------------------------- paths and sidecars

local function split_path(path)
  local dir, name = path:match("^(.*)/([^/]+)$")
  if dir == nil then
    return ".", path
  end
  return dir == "" and "/" or dir, name
end

-- The sidecar lies beside the file itself: a checkpoint reached through a symbolic link is
-- written and verified with the sidecar of the file the link leads to.
local function resolved(path)
  return gio.resolve_links(path) or path -- nil for a loop of links: path's own
end

function M.sidecar_path(path)
  return resolved(path) .. ".sha256"
end

local function pending_path(path)
  local dir, name = split_path(path)
  return gio.join(dir, "." .. name .. ".pending")
end

-- The digests a sidecar lists (in order), or nil when there is none.  A sidecar that exists
-- but cannot be read (a folder, no permission) is an error, not "no sidecar": that would load
-- the file unverified.
local function read_sidecar(path)
  local side = M.sidecar_path(path)
  local st, serr = gio.stat(side)
  if st == nil then
    if serr ~= nil then -- there, but its status cannot be read (a symlink loop, no permission)
      error(string.format("checkpoint '%s': its sidecar '%s' cannot be read (%s)", shown(path), shown(side),
        shown(serr)), 0)
    end
    return nil
  end
  -- the type first: reading a FIFO would block until a writer came
  if st.type ~= "file" then
    error(string.format("checkpoint '%s': its sidecar '%s' cannot be read (%s, not a file)", shown(path),
      shown(side), st.type == "dir" and "a dir" or "a FIFO, socket or device"), 0)
  end
  local text, err = gio.read_file(side)
  if text == nil then
    error(string.format("checkpoint '%s': its sidecar '%s' cannot be read (%s)", shown(path),
      shown(side), shown(err)), 0)
  end
  local out = {}
  for line in text:gmatch("[^\n]+") do
    -- sha256sum's format: the digest, a space, a space or '*' (binary mode), the file's name
    local hex = line:match("^(" .. string.rep("%x", 64) .. ") [ *]%S")
    if hex == nil then
      error(string.format("checkpoint '%s': sidecar '%s' is malformed (line '%s' is not a 64-digit " ..
        "hex SHA-256, two spaces and a file name)", shown(path), shown(side), shown(line, NAME_MAX)), 0)
    end
    out[#out + 1] = hex:lower()
  end
  if #out == 0 then
    error(string.format("checkpoint '%s': sidecar '%s' is empty", shown(path), shown(side)), 0)
  end
  return out
end

local function sidecar_text(name, digests)
  local lines = {}
  for i, d in ipairs(digests) do
    lines[i] = d .. "  " .. name .. "\n"
  end
  return table.concat(lines)
end

local function check(ok, err, what)
  if not ok then
    error(what .. ": " .. tostring(err), 0)
  end
  return ok
end

-- Steps 2 and 3 of the protocol for a complete .FILE.pending; when the rename fails, FILE is
-- unchanged and its sidecar is put back as it was (removed, for a new FILE).
local function commit(path, target, name, pending)
  local new = graphids.sha256_file(pending)
  local digests = { new }
  if gio.exists(path) then
    local listed = (function()
      local ok, d = pcall(read_sidecar, path)
      return ok and d or nil
    end)()
    local old
    if listed and #listed == 1 then
      old = listed[1]
    else
      -- No sidecar, a malformed one, or one left mid-protocol: the file itself decides.
      old = graphids.sha256_file(path)
    end
    if old ~= new then
      digests[2] = old
    end
  end
  local side = M.sidecar_path(path)
  local before = gio.stat(side) ~= nil and gio.read_file(side) or nil
  local sok, serr = gio.atomic_write(side, sidecar_text(name, digests))
  check(sok, serr, "checkpoint sidecar '" .. shown(side) .. "'")
  local ok, err = gio.replace_file(pending, target)
  if not ok then
    if before ~= nil then gio.atomic_write(side, before) else os.remove(side) end
    error(string.format("checkpoint '%s': cannot rename '%s' over it: %s", shown(path), shown(pending),
      shown(err)), 0)
  end
  local wok, werr = gio.atomic_write(side, sidecar_text(name, { new }))
  -- That atomic write fsynced the directory, so the rename above is durable as well.
  check(wok, werr, "checkpoint sidecar '" .. shown(side) .. "'")
  return new
end

-- Writes FILE through write_fn(tmp_path) (which must write a complete file at tmp_path
-- atomically) with the protocol of the header comment.  Returns the new digest.  A FILE that
-- is there must be a regular file (a folder or a FIFO could not be replaced): anything else is
-- refused before anything is written, and a write that fails leaves no .FILE.pending behind.
function M.write_verified(path, write_fn)
  -- A path that is a symbolic link is written through (the link stays): the pending file goes
  -- beside the file it leads to, and the rename onto that file keeps its permission bits (a
  -- chmod 600 checkpoint stays private).  The sidecar goes beside that file too.
  local target = resolved(path)
  local st = gio.stat(target)
  if st ~= nil and st.type ~= "file" then
    error(string.format("checkpoint '%s' is not a regular file (%s); nothing was written", shown(path),
      st.type == "dir" and "a folder" or "a FIFO, socket or device"), 0)
  end
  local _, name = split_path(target)
  local pending = pending_path(target)
  local ok, res = pcall(function()
    write_fn(pending)
    return commit(path, target, name, pending)
  end)
  if not ok then
    os.remove(pending) -- (not there when write_fn failed: its writes are atomic)
    error(res, 0)
  end
  return res
end

-- Verifies path against its sidecar.  Returns "verified", or "missing" when there is no sidecar
-- (a file from another writer); raises naming both digests on a mismatch.
-- Whether the file at path holds the bytes of one of the files named after it (those that
-- exist; nil skipped): a checkpoint is a run's own by content, whatever path names it.
function M.same_as_any(path, ...)
  local got = graphids.sha256_file(path)
  if got == nil then return false end
  for i = 1, select("#", ...) do
    local own = select(i, ...)
    if own ~= nil and gio.exists(own) and graphids.sha256_file(own) == got then return true end
  end
  return false
end

function M.verify(path)
  local listed = read_sidecar(path)
  if listed == nil then
    return "missing"
  end
  local got, herr = graphids.sha256_file(path)
  if got == nil then
    error(string.format("checkpoint '%s': cannot hash it to check its sidecar: %s", shown(path),
      shown(herr)), 0)
  end
  for _, d in ipairs(listed) do
    if d == got then
      return "verified"
    end
  end
  error(string.format("checkpoint '%s': sha256 mismatch: the file hashes to %s, its sidecar '%s' " ..
    "lists %s; the file is corrupt or was changed after it was written", shown(path), got,
    shown(M.sidecar_path(path)), table.concat(listed, ", ")), 0)
end

-- Completes the protocol of an interrupted write_verified: when the sidecar of path lists
-- several digests, it is rewritten (atomically) with the one the file has.  A writer that
-- resumes calls this for the files it will not necessarily rewrite, so that a finished run
-- leaves the same sidecars whether or not it was killed.  Raises when the file matches none.
-- Returns true when the sidecar was rewritten.
function M.settle(path)
  if not gio.exists(path) then
    return false
  end
  local listed = read_sidecar(path)
  if listed == nil or #listed == 1 then
    return false
  end
  M.verify(path)
  local _, name = split_path(resolved(path))
  local ok, err = gio.atomic_write(M.sidecar_path(path), sidecar_text(name, { graphids.sha256_file(path) }))
  check(ok, err, "checkpoint sidecar '" .. shown(M.sidecar_path(path)) .. "'")
  return true
end

-- Removes the checkpoint at path and its sidecar: the file first, since a sidecar without its
-- file is never read, while a file without its sidecar would load unverified.  A path that is a
-- symbolic link loses the link only (the sidecar belongs to the file it leads to).  Returns
-- true, or nil and why the file could not be removed.
function M.remove(path)
  local link = gio.resolve_links(path) ~= path
  local side = M.sidecar_path(path)
  local ok, err = os.remove(path)
  if not ok and gio.exists(path) then return nil, err end
  if not link then os.remove(side) end
  return true
end

-- An empty marker file, created durably (temp file, fsync, rename, fsync of the directory).
function M.touch_marker(path)
  local ok, err = gio.atomic_write(path, "")
  check(ok, err, "marker '" .. shown(path) .. "'")
end

-- Removes what killed writers leave in dir: `.NAME.pending` and `.NAME.tmp-PID-N` files.
-- Returns the number removed.
function M.remove_stale(dir)
  if not gio.is_dir(dir) then
    return 0
  end
  local n = 0
  for _, e in ipairs(gio.list_dir(dir)) do
    if e:match("^%..+%.pending$") or e:match("^%..+%.tmp%-%d+%-%d+$") then
      os.remove(gio.join(dir, e))
      n = n + 1
    end
  end
  return n
end

-- ---------------------------------------------------------------- contents

-- A deep copy of decoded JSON without the json.array/object marks; with lists, an empty array
-- keeps its mark, which it needs to encode as [] again rather than {}.
local function copy(v, lists)
  if type(v) ~= "table" or v == json.null then
    return v
  end
  if lists and json.is_array(v) and next(v) == nil then
    return json.array()
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = copy(x, lists)
  end
  return out
end

-- Plain tables, as the optimizer and scheduler state dicts and a model's hyper-parameters take
-- them (a model refuses a marked table).
local function plain(v)
  return copy(v, false)
end
M.plain = plain

-- JSON has no NaN or infinities, but state does (ReduceLROnPlateau starts with best = inf):
-- they are stored as {"$float": "inf" | "-inf" | "nan"} and turned back on load.
local FLOAT_TAG = "$float"

local function tag_nonfinite(v)
  if type(v) == "number" then
    if v ~= v then return { [FLOAT_TAG] = "nan" } end
    if v == math.huge then return { [FLOAT_TAG] = "inf" } end
    if v == -math.huge then return { [FLOAT_TAG] = "-inf" } end
    return v
  end
  if type(v) ~= "table" or v == json.null then
    return v
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = tag_nonfinite(x)
  end
  if next(out) == nil then
    return json.is_array(v) and json.array() or json.object()
  end
  return out
end

-- (for writers of JSON that must take such state too: graphids ckpt inspect --json)
M.tag_nonfinite = tag_nonfinite

local UNTAG = { nan = 0 / 0, inf = math.huge, ["-inf"] = -math.huge }

local function untag_nonfinite(v)
  if type(v) ~= "table" then
    return v
  end
  local tag = v[FLOAT_TAG]
  if tag ~= nil and UNTAG[tag] ~= nil and next(v, next(v)) == nil then
    return UNTAG[tag]
  end
  for k, x in pairs(v) do
    v[k] = untag_nonfinite(x)
  end
  return v
end

local function encode(v)
  return json.encode(tag_nonfinite(v))
end

local function decode(s)
  return untag_nonfinite(plain(json.decode(s)))
end

-- A tensor to write: moved to the CPU, except f16/bf16 ones (the CPU holds no half storage),
-- whose bytes save_safetensors copies from the device itself (an F16/BF16 file, as torch's).
local function cpu(t)
  if t.device ~= "cpu" and t.dtype ~= "f16" and t.dtype ~= "bf16" then
    t = t:to("cpu")
  end
  return t:detach()
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

-- name -> tensor pairs of a StateDict or a plain table, in a defined order.
local function entries(sd)
  local out = {}
  if type(sd.keys) == "function" then
    for _, k in ipairs(sd:keys()) do
      out[#out + 1] = { k, sd:get(k) }
    end
  else
    for _, k in ipairs(sorted_keys(sd)) do
      out[#out + 1] = { k, sd[k] }
    end
  end
  return out
end

-- The tensor name of a part's entry ("model." .. key): load reads "model.<key>" back only for a
-- non-empty key, so save refuses an empty one (a file this writes must be one load takes).
local function part_name(part, key)
  if key == "" then
    error(string.format("ckpt.save: %s has an entry named \"\" (it would be the tensor '%s.', which no " ..
      "load reads back); name it", part, part), 0)
  end
  return part .. "." .. key
end

-- Optimizer state dict -> tensors "optimizer.state.<i>.<key>" (i 0-based, torch's numbering)
-- and a JSON string holding param_groups and the non-tensor state (step counts).
local function pack_optimizer(sd, tensors)
  local scalars = {}
  local positions = sorted_keys(sd.state)
  for _, pos in ipairs(positions) do
    local st = sd.state[pos]
    local plain_st = {}
    for _, k in ipairs(sorted_keys(st)) do
      local v = st[k]
      if graphids.is_tensor(v) then
        tensors[part_name(string.format("optimizer.state.%d", pos - 1), k)] = cpu(v)
      else
        plain_st[k] = v
      end
    end
    scalars[tostring(pos - 1)] = json.object(plain_st)
  end
  return encode({ param_groups = sd.param_groups, state = json.object(scalars) })
end

local function unpack_optimizer(text, tensors, path)
  local doc = decode(text)
  local function bad(what)
    error(string.format("checkpoint '%s': optimizer state: %s", shown(path), what), 0)
  end
  if type(doc) ~= "table" or doc[1] ~= nil then bad("the metadata must be a JSON object") end
  if doc.state ~= nil and (type(doc.state) ~= "table" or doc.state[1] ~= nil) then
    bad("'state' must be an object of parameter index -> state")
  end
  -- a parameter index: a decimal integer >= 0 that fits, written as state_dict writes it (no
  -- leading zeros: "0" and "00" would name one parameter twice)
  local function index(text_i, where)
    local i = (text_i == "0" or text_i:match("^[1-9]%d*$")) and math.tointeger(tonumber(text_i))
    if not i or i > 2 ^ 31 then
      bad(string.format("%s: '%s' is no parameter index", where, shown(text_i, NAME_MAX)))
    end
    return i + 1
  end
  local state = {}
  for _, k in ipairs(sorted_keys(doc.state or {})) do -- sorted: the first bad one named is always the same
    local st = doc.state[k]
    if type(st) ~= "table" then bad(string.format("the state of parameter %s is not an object", k)) end
    state[index(k, "state key")] = st
  end
  for _, name in ipairs(sorted_keys(tensors)) do
    local t = tensors[name]
    local i, key = name:match("^optimizer%.state%.([^.]+)%.(.+)$")
    if i then
      local pos = index(i, "tensor '" .. shown(name, NAME_MAX) .. "'")
      state[pos] = state[pos] or {}
      if state[pos][key] ~= nil then
        bad(string.format("tensor '%s': parameter %s's '%s' is also in the metadata",
          shown(name, NAME_MAX), i,
          shown(key, NAME_MAX)))
      end
      state[pos][key] = t
    elseif name:match("^optimizer%.") then
      error(string.format("checkpoint '%s': unexpected optimizer tensor '%s'", shown(path),
        shown(name, NAME_MAX)), 0)
    end
  end
  return { param_groups = doc.param_groups, state = state }
end

-- The metadata keys save() writes, each a string (JSON for structured values).
local JSON_KEYS = { "hyper_parameters", "metrics", "callbacks", "loader", "trainer", "scheduler" }

-- Writes a checkpoint.  c fields (all optional but model):
--   model (StateDict or name -> tensor), current_model (the same, the weights training
--   continues from when `model` holds averaged ones: EMAWeightAveraging), optimizer
--   (optimizer:state_dict()), scheduler
--   (scheduler:state_dict()), rng (name -> 16-byte generator state string), epoch, global_step,
--   class_path, hyper_parameters, metrics (name -> number), callbacks (state_key -> JSON-able),
--   loader (data-module state), trainer (JSON-able loop state), config_digest, tracking_run_id,
--   accumulated_grads (parameter position -> gradient: a save inside a group of accumulated
--   batches, graphids.trainer.accumulation).
-- The file is byte-identical for identical contents: no timestamps, sorted names and keys.
function M.save(path, c)
  assert(type(path) == "string", "ckpt.save: path must be a string")
  assert(type(c) == "table" and c.model ~= nil, "ckpt.save: contents need a model state dict")
  -- what load checks, checked here too: a file this writes must be one load takes
  for _, k in ipairs({ "epoch", "global_step" }) do
    local v = c[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < 0) then
      error(string.format("ckpt.save: %s must be an integer >= 0, got %s", k, tostring(v)), 2)
    end
  end
  for _, k in ipairs({ "class_path", "config_digest", "tracking_run_id" }) do
    if c[k] ~= nil and type(c[k]) ~= "string" then
      error(string.format("ckpt.save: %s must be a string, got %s", k, type(c[k])), 2)
    end
  end
  -- each JSON part is an object (load refuses an array), and is written, not dropped
  for _, k in ipairs(JSON_KEYS) do
    local v = c[k]
    if v ~= nil and (type(v) ~= "table" or v[1] ~= nil or json.is_array(v)) then
      error(string.format("ckpt.save: %s must be a table of name -> value (a JSON object), got %s", k,
        U.describe(v)), 2)
    end
  end
  if c.rng ~= nil then
    if type(c.rng) ~= "table" then
      error("ckpt.save: rng must be a table of name -> generator state, got " .. U.describe(c.rng), 2)
    end
    for _, name in ipairs(sorted_keys(c.rng)) do
      local st = c.rng[name]
      if type(st) ~= "string" or #st ~= graphids.GENERATOR_STATE_BYTES then
        error(string.format("ckpt.save: rng.%s must be a %d-byte generator state " ..
          "(Generator:get_state()), got %s", name, graphids.GENERATOR_STATE_BYTES, U.describe(st)), 2)
      end
    end
  end
  local tensors = {}
  for _, e in ipairs(entries(c.model)) do
    tensors[part_name("model", e[1])] = cpu(e[2])
  end
  if c.current_model ~= nil then
    for _, e in ipairs(entries(c.current_model)) do
      tensors[part_name("current_model", e[1])] = cpu(e[2])
    end
  end
  local meta = {
    format = "pt",
    graphids_format_version = tostring(M.FORMAT_VERSION),
    class_path = c.class_path or "",
    epoch = tostring(c.epoch or 0),
    global_step = tostring(c.global_step or 0),
    config_digest = c.config_digest or "",
    runtime_version = graphids.version(),
    tracking_run_id = c.tracking_run_id or "",
  }
  for _, k in ipairs(JSON_KEYS) do
    local v = c[k]
    if type(v) == "table" then
      meta[k] = encode(v)
    end
  end
  if c.optimizer then
    meta.optimizer = pack_optimizer(c.optimizer, tensors)
  end
  -- a save inside a group of accumulated batches: the gradients summed so far, by the
  -- optimizer's 0-based parameter position (graphids.trainer.accumulation)
  for _, pos in ipairs(sorted_keys(c.accumulated_grads or {})) do
    if math.type(pos) ~= "integer" or pos < 1 or not graphids.is_tensor(c.accumulated_grads[pos]) then
      error("ckpt.save: accumulated_grads must map parameter positions (1, 2, ...) to tensors, got " ..
        U.describe(pos), 2)
    end
    tensors[string.format("accumulated_grad.%d", pos - 1)] = cpu(c.accumulated_grads[pos])
  end
  if c.rng then
    for _, name in ipairs(sorted_keys(c.rng)) do
      local s = c.rng[name]
      tensors[part_name("rng", name)] = graphids.tensor({ s:byte(1, -1) }, { dtype = "u8" })
    end
  end
  return M.write_verified(path, function(tmp)
    local ok, err = graphids.save_safetensors(tmp, tensors, meta)
    check(ok, err, "checkpoint '" .. shown(path) .. "'")
  end)
end

-- Reads and verifies a checkpoint.  Returns a table: path, sidecar ("verified" | "missing"),
-- metadata (the raw strings), tensors (all, memory-mapped), model (name -> tensor, prefix
-- stripped), current_model (likewise, or nil: only checkpoints of a weight-averaging fit have
-- it), optimizer (a state dict or nil), accumulated_grads (position -> tensor, or nil), rng
-- (name -> state string), format_version,
-- epoch, global_step, class_path, hyper_parameters, metrics, callbacks, loader, trainer,
-- scheduler, config_digest, runtime_version, tracking_run_id.
-- A missing file, a digest mismatch or a malformed file raise with the path in the message.
function M.load(path)
  if type(path) ~= "string" then
    error("ckpt.load: path must be a string, got " .. type(path), 2)
  end
  local st = gio.stat(path)
  if st == nil then
    error(string.format("checkpoint '%s' does not exist", shown(path)), 0)
  end
  if st.type ~= "file" then
    error(string.format("checkpoint '%s' is not a regular file (%s)", shown(path), st.type), 0)
  end
  local sidecar = M.verify(path)
  local tensors, meta = graphids.load_safetensors(path, { mmap = true })
  if tensors == nil then
    -- (the reader escapes what it quotes from the file, but names the path as given)
    error(string.format("checkpoint '%s': %s", shown(path), shown(meta)), 0)
  end
  meta = meta or {}
  local c = { path = path, sidecar = sidecar, metadata = meta, tensors = tensors, model = {},
    rng = {} }
  -- A count in the metadata is a decimal integer >= 0 ("0x10", "1.5", "-4" and "" are refused:
  -- a file from another writer or edited by hand must not load with a count made up).
  local function count(key, default)
    local text = meta[key]
    if text == nil then return default end
    if not (text == "0" or text:match("^[1-9]%d*$")) or math.tointeger(tonumber(text)) == nil then
      error(string.format("checkpoint '%s': metadata '%s' must be an integer >= 0, got '%s'", shown(path),
        key,
        shown(text, NAME_MAX)), 0)
    end
    return math.tointeger(tonumber(text))
  end
  local version = count("graphids_format_version", 0)
  if version > M.FORMAT_VERSION then
    error(string.format("checkpoint '%s' has format version %s; this runtime reads up to %d",
      shown(path), shown(meta.graphids_format_version), M.FORMAT_VERSION), 0)
  end
  c.format_version = version
  for _, name in ipairs(sorted_keys(tensors)) do -- sorted: a refusal names the same tensor every time
    local t = tensors[name]
    local p = name:match("^model%.(.+)$")
    local q = name:match("^current_model%.(.+)$")
    local r = name:match("^rng%.(.+)$")
    local g = name:match("^accumulated_grad%.(.+)$")
    if p then
      c.model[p] = t
    elseif q then
      c.current_model = c.current_model or {}
      c.current_model[q] = t
    elseif r then
      -- a generator state is a 1-D u8 tensor of its bytes (M.save)
      local n = graphids.GENERATOR_STATE_BYTES
      if t.dtype ~= "u8" or t.ndim ~= 1 or t:numel() ~= n then
        error(string.format("checkpoint '%s': tensor 'rng.%s' must be a u8 [%d] generator state, " ..
          "got %s %s", shown(path), shown(r, NAME_MAX), n, t.dtype, U.shape_str(t)), 0)
      end
      c.rng[r] = t:tobytes()
    elseif g then
      -- a parameter position as the optimizer's state numbers it: "0", "1", ... (no sign, no
      -- leading zero, so no two names give one position)
      local i = (g == "0" or g:match("^[1-9]%d*$")) and math.tointeger(tonumber(g))
      if not i or i > 2 ^ 31 then
        error(string.format("checkpoint '%s': tensor '%s' names no parameter position", shown(path),
          shown(name, NAME_MAX)), 0)
      end
      c.accumulated_grads = c.accumulated_grads or {}
      c.accumulated_grads[i + 1] = t
    elseif name:match("^optimizer%.") then
      if meta.optimizer == nil then -- unpack_optimizer (below) reads them only beside their metadata
        error(string.format("checkpoint '%s': tensor '%s' has no optimizer metadata to belong to",
          shown(path), shown(name, NAME_MAX)), 0)
      end
    else
      -- a tensor no part reads ("modle.weight", "model.") would be dropped without a word
      error(string.format("checkpoint '%s': tensor '%s' belongs to no part of a checkpoint (its " ..
        "name must start with model., current_model., optimizer.state., rng. or accumulated_grad.)",
        shown(path), shown(name, NAME_MAX)), 0)
    end
  end
  -- the weights training continues from mirror the model's, name for name and shape for shape
  if c.current_model ~= nil then
    local sides = { { c.model, c.current_model, "current_model" }, { c.current_model, c.model, "model" } }
    for _, side in ipairs(sides) do
      for _, n in ipairs(sorted_keys(side[1])) do
        local t, other = side[1][n], side[2][n]
        if other == nil or U.shape_str(other) ~= U.shape_str(t) then
          error(string.format("checkpoint '%s': tensor '%s.%s' is %s, expected %s as in the other weights",
            shown(path), side[3], shown(n, NAME_MAX), other and U.shape_str(other) or "missing",
            U.shape_str(t)), 0)
        end
      end
    end
  end
  c.epoch = count("epoch", 0)
  c.global_step = count("global_step", 0)
  c.class_path = meta.class_path ~= "" and meta.class_path or nil
  c.config_digest = meta.config_digest ~= "" and meta.config_digest or nil
  c.runtime_version = meta.runtime_version
  c.tracking_run_id = meta.tracking_run_id ~= "" and meta.tracking_run_id or nil
  for _, k in ipairs(JSON_KEYS) do
    if meta[k] then
      local ok, raw = pcall(json.decode, meta[k])
      if not ok then
        error(string.format("checkpoint '%s': metadata '%s' is not valid JSON: %s", shown(path), k, raw), 0)
      end
      -- (checked before copy() strips the marks: null and [] are tables too)
      if type(raw) ~= "table" or raw == json.null or json.is_array(raw) or raw[1] ~= nil then
        error(string.format("checkpoint '%s': metadata '%s' must be a JSON object, got %s", shown(path), k,
          raw == json.null and "null" or json.is_array(raw) and "an array" or U.describe(raw)), 0)
      end
      -- hyper_parameters keep their empty lists: encoded again (check_compat, `ckpt inspect
      -- --json`, a save of what was loaded) they read as in the file, [] and not {}
      c[k] = untag_nonfinite(copy(raw, k == "hyper_parameters"))
      -- {"$float": "nan"} is an object before the tags are read, a number after
      if type(c[k]) ~= "table" then
        error(string.format("checkpoint '%s': metadata '%s' must be a JSON object, got %s", shown(path), k,
          U.describe(c[k])), 0)
      end
    end
  end
  if meta.optimizer then
    local ok, v = pcall(unpack_optimizer, meta.optimizer, tensors, path)
    if not ok then
      v = tostring(v)
      error(v:find("^checkpoint '") and v or
        string.format("checkpoint '%s': bad optimizer state: %s", shown(path), shown(v)), 0)
    end
    c.optimizer = v
  end
  return c
end

-- ---------------------------------------------------------------- compatibility guard

local function canon(v)
  if v == nil then
    return "(none)"
  end
  if type(v) == "table" then
    return encode(next(v) == nil and json.object() or v)
  end
  return tostring(v)
end

-- v with every empty table an object.  To a model an empty list and an empty object are one
-- value (its hyper-parameters hold both as a plain {}, so a checkpoint the trainer writes says {}
-- where the config said []): the guard compares through this, and shows the values as they are.
local function empties_as_objects(v)
  if type(v) ~= "table" or v == json.null then
    return v
  end
  if next(v) == nil then
    return json.object()
  end
  local out = {}
  for k, x in pairs(v) do
    out[k] = empties_as_objects(x)
  end
  return json.is_array(v) and json.array(out) or out
end

local function shape_str(shape)
  return "[" .. table.concat(shape, ",") .. "]"
end

-- The state keys of model that a checkpoint may lack (each module's `_optional_state`, which
-- load_state_dict leaves at the module's own value: a key older checkpoints were written
-- without), as a set of full names.
local function optional_keys(model)
  local out = {}
  if type(model.named_modules) ~= "function" then return out end
  for prefix, m in model:named_modules() do
    for name in pairs(m._optional_state or {}) do
      out[prefix == "" and name or (prefix .. "." .. name)] = true
    end
  end
  return out
end

-- What a target (a model instance, or a resolved config {rendered = {model = {class_path,
-- init_args}}}) says about itself: class_path, hparams, parameter shapes (name -> shape) when
-- known, the keys of those a checkpoint may lack (optional_keys) and those of buffers filled
-- row by row, which a checkpoint holds with fewer rows (graphids.nn.filled_state).
local function describe_target(target)
  if type(target) ~= "table" then
    error("check_ckpt_compat: expected a model or a resolved config, got " .. type(target), 3)
  end
  if type(target.state_dict) == "function" then
    local shapes = {}
    for _, e in ipairs(entries(target:state_dict())) do
      shapes[e[1]] = e[2].shape
    end
    local hp = type(target.hparams) == "function" and target:hparams() or {}
    return { class_path = target.class_path, hparams = hp, shapes = shapes, side = "model",
      optional = optional_keys(target), filled = Filled.rows(target),
      what = "model " .. tostring(target.class_path or target.__name) }
  end
  local rendered = target.rendered or target
  local m = rendered.model
  if type(m) ~= "table" then
    error("check_ckpt_compat: the resolved config has no model section", 3)
  end
  local hp = m.init_args or {}
  local shapes, optional, filled
  -- The model's shapes when it can be built from the config alone (num_ids given).
  local ok, models = pcall(require, "graphids.models")
  if ok and m.class_path then
    local okc, cls = pcall(models.resolve, m.class_path)
    if okc then
      local okb, model = pcall(cls, plain(hp))
      if okb then
        shapes = {}
        for _, e in ipairs(entries(model:state_dict())) do
          shapes[e[1]] = e[2].shape
        end
        optional, filled = optional_keys(model), Filled.rows(model)
      end
    end
  end
  return { class_path = m.class_path, hparams = hp, shapes = shapes, optional = optional, filled = filled,
    side = "config", what = "config's model " .. tostring(m.class_path) }
end

-- Raises one error listing every mismatch between a checkpoint (a path or a load() result) and
-- a model or resolved config: class path, IdEncoder class path and kwargs, num_ids (these three
-- only when the checkpoint records hyper-parameters; the error says when it records none),
-- vocabulary digest (opts.vocab_digest, or the target's hparams.vocab_digest; a checkpoint that
-- records none while one is expected is a mismatch) and every parameter's name and shape.
-- Returns the loaded checkpoint when compatible.
function M.check_compat(c, target, opts)
  if type(c) == "string" then
    c = M.load(c)
  elseif type(c) ~= "table" then
    error("ckpt.check_compat: expected a checkpoint path or a ckpt.load() result, got " .. type(c), 2)
  end
  opts = opts or {}
  local t = describe_target(target)
  local chp = c.hyper_parameters or {}
  local thp = t.hparams or {}
  local problems = {}
  local function cmp(label, a, b)
    if a ~= nil and b ~= nil and canon(empties_as_objects(a)) ~= canon(empties_as_objects(b)) then
      problems[#problems + 1] = string.format("  %s: checkpoint %s, %s %s", label, shown(canon(a)), t.side,
        shown(canon(b)))
    end
  end
  cmp("class_path", c.class_path, t.class_path)
  -- A checkpoint that records no hyper-parameters at all (another writer's weights) says nothing
  -- of its encoder or num_ids: reading that as the defaults would report mismatches the file
  -- never stated (and pass the defaults unseen).  Its class and shapes are all there is.
  local no_hp = next(chp) == nil
  if not no_hp then
    cmp("id_encoder_class_path", chp.id_encoder_class_path or M.DEFAULT_ID_ENCODER,
      thp.id_encoder_class_path or M.DEFAULT_ID_ENCODER)
    cmp("id_encoder_kwargs", chp.id_encoder_kwargs or {}, thp.id_encoder_kwargs or {})
    cmp("num_ids", chp.num_ids, thp.num_ids)
  end
  local digest = opts.vocab_digest or thp.vocab_digest
  if digest ~= nil and chp.vocab_digest == nil then
    -- a digest asked for and none to compare it with: passing would claim a match nothing showed
    -- (a checkpoint written without hyper-parameters, or from data without a vocabulary)
    problems[#problems + 1] = string.format("  vocab_digest: the checkpoint records none, %s expects %s; " ..
      "it cannot be shown to hold the same vocabulary", opts.vocab_digest and "the caller" or t.side,
      shown(canon(digest)))
  else
    cmp("vocab_digest", chp.vocab_digest, digest)
  end
  if t.shapes then
    local names = {}
    for n in pairs(t.shapes) do
      names[n] = true
    end
    for n in pairs(c.model) do
      names[n] = true
    end
    for _, n in ipairs(sorted_keys(names)) do
      local a, b = c.model[n], t.shapes[n]
      local name = shown(n, NAME_MAX)
      if a == nil then
        -- (an optional key is one older checkpoints lack: loading keeps the model's own value)
        if not t.optional[n] then
          problems[#problems + 1] = string.format("  parameter %s: missing from the checkpoint, %s has %s",
            name, t.side, shape_str(b))
        end
      elseif b == nil then
        problems[#problems + 1] = string.format("  parameter %s: checkpoint has %s, missing from the %s",
          name,
          shape_str(a.shape), t.side)
      elseif t.filled[n] ~= nil then
        -- (a buffer filled row by row: a checkpoint keeps its filled rows, load_state_dict checks
        -- that it holds every one its counters say are filled)
        if not Filled.fits(a.shape, b) then
          problems[#problems + 1] = string.format("  parameter %s: checkpoint %s, %s %s (a buffer filled " ..
            "row by row: up to %d rows)", name, shape_str(a.shape), t.side, shape_str(b), b[1] or 0)
        end
      elseif shape_str(a.shape) ~= shape_str(b) then
        problems[#problems + 1] = string.format("  parameter %s: checkpoint %s, %s %s", name,
          shape_str(a.shape), t.side, shape_str(b))
      end
    end
  end
  if #problems > 0 then
    local note = ""
    if no_hp then
      note = string.format("The checkpoint records no hyper-parameters: only its %s can be checked.\n",
        c.class_path and "class and shapes" or "shapes")
    end
    error(string.format("checkpoint '%s' is not compatible with the %s (%d mismatch%s):\n%s\n%s" ..
      "Re-train or point at a compatible checkpoint.", shown(c.path or "?"), shown(t.what), #problems,
      #problems == 1 and "" or "es", table.concat(problems, "\n"), note), 0)
  end
  return c
end

-- The name the design and the reference use.
M.check_ckpt_compat = M.check_compat

return M
