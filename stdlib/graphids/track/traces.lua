-- graphids.track.traces -- run_dir/traces.jsonl: one JSON object per line, written as it happens.
--   local traces = require "graphids.track.traces"
--   local tr = traces.open(run_dir)               -- traces.open(nil) is a no-op tracer
--   tr:event("resumed_from_checkpoint", {path = p, epoch = 3})
--   local n = tr:span("save_predictions", {split = "test"}, function() return write() end)
--   local sp = tr:start_span("epoch", {epoch = 1}) ... sp:finish("ok", {train_loss = 0.3})
--
-- Every line has `ts` (ISO-8601 UTC with microseconds), `level` ("info" | "warning" |
-- "error"), `event` and the fields (keys sorted).  A span writes a "span_start" line when it
-- opens and a "span_end" line when it closes, both with `span` (its name), `span_id` and
-- `parent_id` (the enclosing span, absent at top level); the end adds `duration_ms` and
-- `status` ("ok" | "error", with `error` = the message).  Plain events inside a span carry its
-- id as `parent_id`.  Each line is one append(2) (a kill never leaves half a line or loses a
-- line already written); span ends are also fsynced.  Writing a trace never fails the caller:
-- a failing write warns once on stderr and tracing goes on trying.
local core = require "graphids.core"
local json = require "graphids.json"

local M = {}

-- ISO-8601 UTC with microseconds from a float of epoch seconds.
function M.iso_time(t)
  local sec = math.floor(t)
  local us = math.floor((t - sec) * 1e6 + 0.5)
  if us >= 1000000 then
    sec, us = sec + 1, us - 1000000
  end
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%06dZ", us)
end

-- A value JSON can hold: non-finite numbers become "NaN" / "Infinity" / "-Infinity" (as
-- MLflow's JSON does), tensors and other userdata their tostring, nested tables recursively,
-- and a string that is not UTF-8 (keys too: a path, a message quoting a file's bytes) as
-- json.utf8_safe gives it, its bytes >= 0x80 as \xNN: the line keeps the record's fields.
local text = json.utf8_safe
local function plain(v, depth)
  local t = type(v)
  if t == "number" then
    if v ~= v then
      return "NaN"
    elseif v == math.huge then
      return "Infinity"
    elseif v == -math.huge then
      return "-Infinity"
    end
    return v
  elseif t == "string" then
    return text(v)
  elseif t == "boolean" then
    return v
  elseif v == json.null then
    return v
  elseif t == "table" and depth < 8 then
    local mt = getmetatable(v)
    local marked = mt ~= nil and (mt.__name == "json.array" or mt.__name == "json.object")
    if mt == nil or marked then
      local out = {}
      for k, x in pairs(v) do
        out[type(k) == "number" and k or text(tostring(k))] = plain(x, depth + 1)
      end
      if marked then setmetatable(out, mt) end
      return out
    end
  end
  return text(tostring(v))
end
M.plain = function(v)
  return plain(v, 0)
end

local function random_hex(nbytes)
  local f = io.open("/dev/urandom", "rb")
  local s = f and f:read(nbytes)
  if f then f:close() end
  if not s or #s < nbytes then -- no /dev/urandom: time and a Lua random stand in
    s = string.pack("<d", core.wall_time()) .. string.pack("<i8", math.random(0, math.maxinteger))
  end
  return (s:sub(1, nbytes):gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end
M.random_hex = random_hex

-- (keys of any type: a record with a number key must not make the writer raise)
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local Tracer = {}
Tracer.__index = Tracer
Tracer.__name = "graphids.track.Tracer"

local Span = {}
Span.__index = Span
Span.__name = "graphids.track.Span"

-- Opens the tracer of run_dir (nil: a tracer that writes nothing).  opts.path overrides the
-- file (default run_dir/traces.jsonl); opts.fields are added to every line (e.g. stage).
function M.open(run_dir, opts)
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "path" and k ~= "fields" then
      error("traces.open: unknown option '" .. tostring(k) .. "' (allowed: fields, path)", 2)
    end
  end
  local path = opts.path
  if path == nil and run_dir ~= nil then
    if type(run_dir) ~= "string" or run_dir == "" then
      error("traces.open: run_dir must be a non-empty string or nil, got " .. tostring(run_dir), 2)
    end
    local ok, err = core.mkdir_p(run_dir)
    if not ok then
      io.stderr:write("graphids: warning: traces: cannot create ", run_dir, ": ", tostring(err), "\n")
    end
    path = run_dir .. "/traces.jsonl"
  end
  return setmetatable({ path = path, fields = opts.fields or {}, stack = {}, warned = false }, Tracer)
end

function Tracer:enabled()
  return self.path ~= nil
end

-- Writes one record (a table of fields).  Returns true, or false when it could not be written.
function Tracer:write(rec, sync)
  if self.path == nil then return true end
  local out = {}
  for k, v in pairs(self.fields) do out[text(k)] = plain(v, 0) end
  for k, v in pairs(rec) do out[text(k)] = plain(v, 0) end
  local ok, line = pcall(json.encode, out)
  if not ok then
    -- a field JSON cannot hold (a table mixing string and number keys), or a key that is no
    -- string (the record itself is then such a table): the line keeps the others (event,
    -- stage, reason) and names those left out ([1], [true] for a key that is no string) and why
    local left = {}
    for _, k in ipairs(sorted_keys(out)) do
      if type(k) ~= "string" then
        left[#left + 1] = "[" .. text(tostring(k)) .. "]"
        out[k] = nil
      elseif not pcall(json.encode, out[k]) then
        left[#left + 1] = k
        out[k] = nil
      end
    end
    out.trace_encode_error = string.format("left out %s: %s", table.concat(left, ", "), tostring(line))
    ok, line = pcall(json.encode, out)
    if not ok then
      line = json.encode({ ts = out.ts, level = "error", event = "trace_encode_failed",
        error = text(tostring(line)) })
    end
  end
  if not self.tail_checked then
    -- a file whose last line was cut (outside damage, a full disk) would take this line into
    -- the broken one: it starts on a line of its own
    self.tail_checked = true
    local f = io.open(self.path, "rb")
    if f then
      local at_end = f:seek("end", -1) and f:read(1)
      f:close()
      if at_end and at_end ~= "\n" then line = "\n" .. line end
    end
  end
  local wrote, err = core.append_file(self.path, line .. "\n", { sync = sync or false })
  if not wrote and not self.warned then
    self.warned = true
    io.stderr:write("graphids: warning: cannot write trace ", self.path, ": ", tostring(err), "\n")
  end
  return wrote == true
end

local function record(self, level, event, fields)
  local rec = {}
  if fields then
    for k, v in pairs(fields) do rec[k] = v end
  end
  rec.ts, rec.level, rec.event = M.iso_time(core.wall_time()), level, event
  local top = self.stack[#self.stack]
  if top and rec.parent_id == nil then rec.parent_id = top.span_id end
  return rec
end

-- An event line at level "info" (or opts level).
function Tracer:event(event, fields, level)
  if self.path == nil then return end
  self:write(record(self, level or "info", event, fields))
end

function Tracer:warning(event, fields)
  self:event(event, fields, "warning")
end

function Tracer:error(event, fields)
  if self.path == nil then return end
  self:write(record(self, "error", event, fields), true)
end

-- Opens a span (nested under the innermost open one) and writes its start line.
function Tracer:start_span(name, fields)
  local parent = self.stack[#self.stack]
  local sp = setmetatable({ tracer = self, name = name, span_id = random_hex(8),
    parent_id = parent and parent.span_id or nil, t0 = core.wall_time(), open = true }, Span)
  if self.path ~= nil then
    local rec = record(self, "info", "span_start", fields)
    rec.span, rec.span_id, rec.parent_id = name, sp.span_id, sp.parent_id
    self:write(rec)
  end
  self.stack[#self.stack + 1] = sp
  return sp
end

-- Closes the span: status "ok" or "error" (err = the message); extra fields go on the end line.
-- Closing twice is a no-op; spans opened inside it and still open are closed first.
function Span:finish(status, fields, err)
  if not self.open then return end
  local tr = self.tracer
  while #tr.stack > 0 do
    local top = table.remove(tr.stack)
    if top == self then break end
    top:_end("error", nil, "closed by the end of enclosing span '" .. self.name .. "'")
  end
  self:_end(status or "ok", fields, err)
end

function Span:_end(status, fields, err)
  self.open = false
  local tr = self.tracer
  if tr.path == nil then return end
  local rec = {}
  for k, v in pairs(fields or {}) do rec[k] = v end
  rec.ts = M.iso_time(core.wall_time())
  rec.level = status == "ok" and "info" or "error"
  rec.event, rec.span, rec.span_id, rec.parent_id = "span_end", self.name, self.span_id, self.parent_id
  rec.duration_ms = math.floor((core.wall_time() - self.t0) * 1e6 + 0.5) / 1e3
  rec.status = status
  if err ~= nil then rec.error = tostring(err) end
  tr:write(rec, true)
end

-- Runs fn(...) inside a span and returns its results.  An error is recorded (status "error"
-- with its message) and then raised again unchanged.
function Tracer:span(name, fields, fn, ...)
  local sp = self:start_span(name, fields)
  local res = table.pack(xpcall(fn, function(e)
    return e
  end, ...))
  if not res[1] then
    sp:finish("error", nil, res[2])
    error(res[2], 0)
  end
  sp:finish("ok")
  return table.unpack(res, 2, res.n)
end

-- The no-op tracer (run_dir == nil).
function M.null()
  return M.open(nil)
end

return M
