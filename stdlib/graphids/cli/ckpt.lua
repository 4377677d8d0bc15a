-- graphids.cli.ckpt -- `graphids ckpt inspect FILE [--json]`: what a checkpoint holds.
--   graphids ckpt inspect runs/gat/checkpoints/best_model.safetensors
--   graphids ckpt inspect last.safetensors --json      -- one JSON object on stdout
-- Exit codes: 0 ok, 1 the file cannot be read (missing, corrupt, digest mismatch: the message
-- says which), 2 usage errors.
local ckpt = require "graphids.ckpt"
local json = require "graphids.json"

local M = {}

M.summary = "inspect FILE [--json]: print a checkpoint's contents"

local USAGE = [[
usage: graphids ckpt inspect FILE [--json]

Prints what a checkpoint holds: its sidecar status (verified, missing), format, class path,
epoch and step, runtime version, config digest, tracking run, parameter count, metrics,
hyper-parameters, callback, loader, trainer and scheduler state, and every tensor (name, dtype,
shape).  The file is verified against its .sha256 sidecar when there is one.

options:
  --json       the same as one JSON object on stdout (NaN and infinities tagged as in the file)
  -h, --help   this text

Exit codes: 0 ok, 1 the file cannot be read (missing, sha256 mismatch, malformed: the message
says which), 2 usage errors.
]]

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do
    keys[#keys + 1] = k
  end
  table.sort(keys)
  return keys
end

-- The description inspect prints (also what --json emits).
function M.describe(c)
  local tensors, groups, nparams = {}, {}, 0
  for _, name in ipairs(sorted_keys(c.tensors)) do
    local t = c.tensors[name]
    tensors[#tensors + 1] = { name = name, dtype = t.dtype, shape = json.array(t.shape) }
    local group = name:match("^([^.]+)%.") or name
    groups[group] = (groups[group] or 0) + 1
    if group == "model" then
      nparams = nparams + t:numel()
    end
  end
  return {
    path = c.path, sidecar = c.sidecar, format = c.metadata.format,
    format_version = c.format_version, class_path = c.class_path or json.null,
    epoch = c.epoch, global_step = c.global_step, metrics = c.metrics or json.object(),
    hyper_parameters = c.hyper_parameters or json.object(), callbacks = c.callbacks or json.object(),
    loader = c.loader or json.object(), trainer = c.trainer or json.object(),
    scheduler = c.scheduler or json.null,
    optimizer_groups = c.optimizer and c.optimizer.param_groups or json.null,
    config_digest = c.config_digest or json.null, runtime_version = c.runtime_version or json.null,
    tracking_run_id = c.tracking_run_id or json.null, model_parameters = nparams,
    tensor_groups = next(groups) and groups or json.object(), tensors = json.array(tensors), -- (when empty)
  }
end

-- s as a message shows it (json.printable: control characters as \n, \t, \xNN, the C1 controls
-- as \xC2\x9B, bytes of text that is not UTF-8 as \xNN): a name or a value in a file another
-- writer made must not start a line of its own ("sidecar  sha256 verified") in the listing, nor
-- reach the terminal as an escape sequence (ESC, or U+009B, which some terminals take for ESC [).
local function visible(s)
  return json.printable(tostring(s))
end

local function fmt_value(v)
  if v == json.null then
    return "(none)"
  end
  if type(v) == "table" then
    return visible(json.encode(ckpt.tag_nonfinite(v)))
  end
  if math.type(v) == "float" then
    return string.format("%.8g", v)
  end
  return visible(v)
end

local function print_text(d, out)
  out:write(string.format("checkpoint      %s\n", visible(d.path)))
  out:write(string.format("sidecar         %s\n", d.sidecar == "verified" and "sha256 verified" or
    "missing (not verified)"))
  out:write(string.format("format          %s, graphids format version %s\n", visible(d.format),
    tostring(d.format_version)))
  out:write(string.format("class_path      %s\n", fmt_value(d.class_path)))
  out:write(string.format("epoch           %d (global step %d)\n", d.epoch, d.global_step))
  out:write(string.format("runtime         %s\n", fmt_value(d.runtime_version)))
  out:write(string.format("config digest   %s\n", fmt_value(d.config_digest)))
  out:write(string.format("tracking run    %s\n", fmt_value(d.tracking_run_id)))
  out:write(string.format("parameters      %d values in %d model tensors\n", d.model_parameters,
    d.tensor_groups.model or 0))
  local sections = { { "metrics", d.metrics }, { "hyper_parameters", d.hyper_parameters },
    { "callbacks", d.callbacks }, { "loader", d.loader }, { "trainer", d.trainer } }
  for _, s in ipairs(sections) do
    out:write(s[1], ":\n")
    local t = s[2]
    local keys = sorted_keys(t)
    if #keys == 0 then
      out:write("  (none)\n")
    end
    for _, k in ipairs(keys) do
      out:write(string.format("  %-28s %s\n", visible(k), fmt_value(t[k])))
    end
  end
  if d.scheduler ~= json.null then
    out:write("scheduler:\n  ", fmt_value(d.scheduler), "\n")
  end
  out:write("tensors:\n")
  for _, t in ipairs(d.tensors) do
    out:write(string.format("  %-48s %-4s [%s]\n", visible(t.name), t.dtype, table.concat(t.shape, ", ")))
  end
end

function M.main(args)
  local sub = args[1]
  if sub == nil or sub == "help" or sub == "--help" or sub == "-h" then
    (sub and io.stdout or io.stderr):write(USAGE)
    return sub and 0 or 2
  end
  if sub ~= "inspect" then
    io.stderr:write("graphids ckpt: unknown subcommand '", sub, "'",
      require("graphids.orchestrate.cliargs").suggest(sub, { "inspect" }), "\n", USAGE)
    return 2
  end
  -- (the parser of every other command: "--json takes no value", the did-you-mean hint)
  local o, rc = require("graphids.orchestrate.cliargs").parse_command("ckpt inspect",
    table.move(args, 2, #args, 1, {}), { flag = { "--json" }, positional = math.huge }, USAGE)
  if o == nil then return rc end
  local file, as_json = o.positional[1], o["--json"]
  if #o.positional > 1 then
    io.stderr:write("graphids ckpt inspect: one FILE expected, got '", file, "' and '", o.positional[2],
      "'\n", USAGE)
    return 2
  end
  if file == nil then
    io.stderr:write("graphids ckpt inspect: missing FILE\n", USAGE)
    return 2
  end
  -- (as fit's --config "": a usage error, not a failure to stat "")
  if file == "" then
    io.stderr:write("graphids ckpt inspect: FILE is empty (name a checkpoint file)\n", USAGE)
    return 2
  end
  local ok, c = pcall(ckpt.load, file)
  if not ok then
    io.stderr:write("graphids ckpt inspect: ", tostring(c), "\n")
    return 1
  end
  local d = M.describe(c)
  if as_json then
    -- JSON holds text: a path that is not UTF-8 (a name the file system allows) is given as the
    -- listing shows it, its bytes as \xNN.  Everything from the file is UTF-8 (the reader
    -- refuses other headers).
    if not utf8.len(d.path) then d.path = json.printable(d.path) end
    -- NaN and infinities (a best score of inf, a NaN loss) as {"$float": "nan"}, as saved; the
    -- C1 controls (U+009B acts as ESC [ on some terminals) as \u escapes, the same characters
    -- to a JSON reader (the byte pair C2 80..9F is one only inside a string)
    local text = json.encode(ckpt.tag_nonfinite(d), { indent = 2 })
    io.stdout:write((text:gsub("\xC2([\x80-\x9F])", function(b)
      return string.format("\\u%04x", b:byte())
    end)), "\n")
  else
    print_text(d, io.stdout)
  end
  return 0
end

return M
