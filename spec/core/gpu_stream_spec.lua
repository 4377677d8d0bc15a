-- gpu_stream_spec.lua -- graphids.gpu streams and events (lua/src/l_gpu_stream.c, backend ABI 6):
-- option and argument errors raised before any device is looked for, the loader's reason on a
-- machine without a GPU, and in a child host on the loopback device (the plugin is loaded once
-- per process, so this one cannot switch to it) the argument errors of the methods, closed
-- handles, fields, `<close>`, the GC, and a backend without the stream entries.  What streams do
-- to ops and memory is spec/gpu/stream_check.lua's (run on the loopback by `make test` too).
local graphids = require "graphids"
local gio = require "graphids.io"
local h = require "helpers"
local skip = require "skip"

local gpu = graphids.gpu
local errors = h.errors

describe("gpu streams and events", function()
  it("check options and arguments before looking for a device", function()
    errors("gpu.Stream: unknown option 'prio' %(did you mean 'priority'%?%)", gpu.Stream,
      { prio = 1 })
    errors("gpu.Event: unknown option 'timming' %(did you mean 'timing'%?%)", gpu.Event,
      { timming = true })
    errors("gpu.Stream: unexpected argument #2 %(number%)", gpu.Stream, {}, 3)
    errors("gpu.set_stream: argument #1 must be a graphids.gpu.Stream, got no value", gpu.set_stream)
    errors("gpu.with_stream: argument #1 must be a graphids.gpu.Stream, got number",
      gpu.with_stream, 1, function() end)
    errors("record_stream: argument #2 must be a graphids.gpu.Stream, got string",
      graphids.zeros(2).record_stream, graphids.zeros(2), "s")
  end)

  it("say why there is no device on a machine without one", function()
    if gpu.is_available() then
      skip.skip("gpu_stream_spec: a device is available (the loopback child covers the calls)")
      return
    end
    local why = gpu.status():gsub("%p", "%%%0")
    errors("gpu.Stream: " .. why, gpu.Stream)
    errors("gpu.Event: " .. why, gpu.Event, { timing = true })
    errors("gpu.current_stream: " .. why, gpu.current_stream)
    errors("gpu.default_stream: " .. why, gpu.default_stream, 0)
  end)
end)

local lb = require "loopback"
local plugin = lb.plugin
local on_loopback = lb.run

local CALLS = [[
local graphids = require "graphids"
local gpu = graphids.gpu
assert(gpu.is_available(), "the loopback device is not available")
local n = 0
local function fails(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern, 1, true), "expected '" .. pattern .. "', got " .. tostring(err))
  n = n + 1
end
local s, e = gpu.Stream({ priority = -2 }), gpu.Event({ timing = true })
assert(s.device == 0 and s.priority == -2 and s.nonblocking == false and s.is_default == false)
assert(e.device == 0 and e.timing == true)
assert(tostring(s) == "graphids.gpu.Stream(cuda:0, priority -2)", tostring(s))
assert(tostring(gpu.default_stream()) == "graphids.gpu.Stream(cuda:0, default)")
assert(tostring(e) == "graphids.gpu.Event(cuda:0, timing)", tostring(e))
fails("Stream:wait_event: argument #2 must be a graphids.gpu.Event, got table", s.wait_event, s, {})
fails("Stream:wait_event: unexpected argument #3 (number)", s.wait_event, s, e, 1)
fails("Stream:synchronize: argument #1 must be a graphids.gpu.Stream, got graphids.gpu.Event",
  s.synchronize, e)
fails("Event:record: argument #2 must be a graphids.gpu.Stream, got number", e.record, e, 0)
fails("Event:elapsed_time: argument #2 must be a graphids.gpu.Event, got no value", e.elapsed_time, e)
fails("gpu.Stream: device 1 does not exist (1 CUDA device)", gpu.Stream, { device = 1 })
fails("gpu.Event: device -1 does not exist", gpu.Event, { device = -1 })
fails("gpu.current_stream: device 2 does not exist", gpu.current_stream, 2)
fails("gpu.current_stream: device (argument #1) must be an integer, got string",
  gpu.current_stream, "cuda:0")
fails("gpu stream create: priority 1 is outside cuda:0's range -5 (highest) to 0 (lowest)",
  gpu.Stream, { priority = 1 })
fails("gpu.with_stream: argument #2 must be a function, got no value", gpu.with_stream, s)
fails("gpu event elapsed_time: the start event was never recorded", e.elapsed_time, e,
  gpu.Event({ timing = true }):record())
fails("gpu event elapsed_time: the end event was created without timing", function()
  return e:record():elapsed_time(gpu.Event():record())
end)
-- record_event without an event makes one (without timing) and returns it
local r = s:record_event()
assert(getmetatable(r).__name == "graphids.gpu.Event" and r.timing == false and r:query())
assert(rawequal(s:record_event(e), e))
-- an event recorded on the current stream, then timed
local a, b = gpu.Event({ timing = true }), gpu.Event({ timing = true })
a:record()
graphids.ones(50, 50, { device = "cuda" }):matmul(graphids.ones(50, 50, { device = "cuda" }))
b:record(gpu.current_stream())
assert(a:elapsed_time(b) >= 0)
-- closed handles
s:close()
s:close()
e:close()
e:close()
fails("Stream:query: the stream is closed", s.query, s)
fails("Stream:record_event: the stream is closed", s.record_event, s)
fails("gpu.with_stream: the stream is closed", gpu.with_stream, s, function() end)
fails("Event:synchronize: the event is closed", e.synchronize, e)
fails("Stream:wait_event: the event is closed", gpu.default_stream().wait_event,
  gpu.default_stream(), e)
assert(tostring(s) == "graphids.gpu.Stream(cuda:0, closed)", tostring(s))
-- `<close>`, and the GC of streams never closed (one of them current until replaced)
do
  local c <close> = gpu.Stream()
  gpu.set_stream(c)
  assert(rawequal(gpu.current_stream(), c))
end
assert(gpu.current_stream().is_default, "the closed <close> stream is still current")
for _ = 1, 50 do
  gpu.set_stream(gpu.Stream())
  gpu.Event()
end
collectgarbage()
collectgarbage()
local cur = gpu.current_stream()
assert(not cur.is_default, "the current stream was collected")
assert(graphids.ones(3, { device = "cuda" }):sum():item() == 3, "an op on the current stream")
gpu.set_stream(gpu.default_stream())
collectgarbage()
-- a tensor that is not the allocator's
fails("record_stream: expected a CUDA tensor, got one on cpu", graphids.zeros(1).record_stream,
  graphids.zeros(1), gpu.default_stream())
print("calls: " .. n .. " errors checked")
]]

local NO_ENTRIES = [[
local gpu = require("graphids").gpu
assert(gpu.is_available())
local ok, err = pcall(gpu.Stream)
assert(not ok and tostring(err):find("gpu.Stream: the CUDA plugin (", 1, true)
  and tostring(err):find(") has no streams", 1, true), tostring(err))
print("no streams: ok")
]]

describe("gpu streams on the loopback device", function()
  if skip.unless(gio.exists(plugin), "gpu_stream_spec: " .. plugin .. " is not built") then
    return
  end

  it("check the methods' arguments, closed handles, fields, <close> and the GC", function()
    local out, rc = on_loopback(CALLS)
    assert(rc == 0 and out:find("calls: %d+ errors checked"), out)
  end)

  it("say so when the plugin has no stream entries", function()
    local out, rc = on_loopback(NO_ENTRIES, "GIDS_LOOPBACK_DISABLE=stream_create ")
    assert(rc == 0 and out:find("no streams: ok", 1, true), out)
  end)

  it("say so, naming it, when the plugin lacks any one of the group's entries", function()
    -- each was a call through NULL (a crash) in the method that needs it
    local src = [[
local gpu = require("graphids").gpu
for _, f in ipairs({ gpu.Event, gpu.current_stream, function() gpu.set_stream(gpu.Stream()) end,
    function() gpu.Stream():synchronize() end }) do
  local ok, err = pcall(f)
  assert(not ok and tostring(err):find("has no streams (no " .. arg[1] .. " entry)", 1, true), tostring(err))
end
print("named: ok")
]]
    for _, entry in ipairs({ "event_record", "stream_get", "stream_set", "stream_synchronize", "stream_query",
      "stream_wait_event", "event_synchronize", "event_query", "event_elapsed", "event_destroy",
      "stream_destroy" }) do
      local out, rc = on_loopback(src:gsub("arg%[1%]", string.format("%q", entry)),
        "GIDS_LOOPBACK_DISABLE=" .. entry .. " ")
      assert(rc == 0 and out:find("named: ok", 1, true), entry .. ": " .. out)
    end
  end)
end)
