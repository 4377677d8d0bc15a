local graphids = require "graphids"
local gio = require "graphids.io"
local skip = require "skip"
local env = require "specenv"

local tmpdir = env.tmpdir

local function peer_python()
  return env.peer_has("safetensors, torch") and env.PEER_PYTHON or nil
end

local function sample()
  return {
    f32 = graphids.tensor({ { 1.5, -2 }, { 3, 4 } }, { dtype = "f32" }),
    f64 = graphids.tensor({ 1e-300, 0.1 }, { dtype = "f64" }),
    i64 = graphids.tensor({ math.mininteger, -1, math.maxinteger }, { dtype = "i64" }),
    i32 = graphids.tensor({ -7, 7 }, { dtype = "i32" }),
    u8 = graphids.tensor({ 0, 255 }, { dtype = "u8" }),
    b = graphids.tensor({ true, false }, { dtype = "bool" }),
    empty = graphids.zeros(0, 3),
  }
end

describe("graphids safetensors I/O", function()
  local dir
  before_each(function()
    dir = tmpdir()
  end)
  after_each(function()
    gio.remove_tree(dir)
  end)

  it("round-trips every dtype, mapped and read, with metadata", function()
    local ts = sample()
    local path = gio.join(dir, "a.safetensors")
    assert.is_true(gio.save_safetensors(path, ts, { format = "pt", note = '{"k": 1}' }))
    for _, mmap in ipairs({ true, false }) do
      local back, meta = gio.load_safetensors(path, { mmap = mmap })
      assert.same({ format = "pt", note = '{"k": 1}' }, meta)
      for name, t in pairs(ts) do
        assert.equal(t.dtype, back[name].dtype)
        assert.is_true(graphids.equal(t, back[name]), name)
      end
    end
  end)

  it("saves a module's state dict as it is, and loads back into the module", function()
    local nn = require "graphids.nn"
    local m = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    local path = dir .. "/model.safetensors"
    assert.is_true(graphids.save_safetensors(path, m:state_dict()))
    local loaded = graphids.load_safetensors(path)
    local m2 = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    m2:load_state_dict(loaded)
    for name, t in m:state_dict():items() do
      assert.is_true(graphids.equal(t, m2:state_dict():get(name)), name)
    end
  end)

  it("is graphids.io.save / graphids.io.load under its short names", function()
    local path = gio.join(dir, "short.safetensors")
    assert.is_true(graphids.io.save(path, { w = graphids.tensor({ 1, 2 }) }, { format = "pt" }))
    local back, meta = graphids.io.load(path)
    assert.same({ 1, 2 }, back.w:totable())
    assert.same({ format = "pt" }, meta)
  end)

  it("keeps mapped tensors valid after the tables go and never writes through to the file", function()
    local path = gio.join(dir, "m.safetensors")
    gio.save_safetensors(path, { w = graphids.tensor({ 1, 2, 3 }, { dtype = "f32" }) })
    local w = gio.load_safetensors(path).w
    collectgarbage()
    w:fill_(7)
    assert.same({ 7, 7, 7 }, w:totable())
    assert.same({ 1, 2, 3 }, gio.load_safetensors(path, { mmap = false }).w:totable())
  end)

  it("returns nil, message, code for missing and corrupt files and raises on misuse", function()
    local t, msg, code = gio.load_safetensors(gio.join(dir, "none.safetensors"))
    assert.is_nil(t)
    assert.equal("EIO", code)
    assert.matches("none.safetensors", msg)
    local bad = gio.join(dir, "bad.safetensors")
    assert(gio.atomic_write(bad, string.pack("<I8", 2) .. "[]"))
    t, msg, code = gio.load_safetensors(bad)
    assert.is_nil(t)
    assert.equal("EFORMAT", code)
    assert.matches("header line 1, column 1: the header must be a JSON object", msg)
    assert.has_error(function()
      gio.save_safetensors(bad, { w = 3 })
    end, "save_safetensors: tensors['w'] is a number, expected a live Tensor")
    assert.has_error(function()
      gio.save_safetensors(bad, {}, { step = 3 })
    end, "save_safetensors: metadata['step'] is a number; safetensors metadata values are " ..
      "strings (encode structured values as JSON)")
    assert.has_error(function()
      gio.load_safetensors(bad, { map = true })
    end, "load_safetensors: unknown option 'map' (did you mean 'mmap'?)")
    -- a NUL in a path would name another file to C: refused (found by fuzzing)
    local ok, err = pcall(function() return gio.load_safetensors(bad .. "\0junk") end)
    assert.is_false(ok)
    assert.truthy(err:find("load_safetensors: argument #1: the path holds a NUL byte at " .. #bad .. " ('" ..
      bad .. "' would be used)", 1, true), err)
    ok, err = pcall(function() return require("graphids.data").read_can(bad .. "\0x.csv") end)
    assert.is_false(ok)
    assert.truthy(err:find("the path holds a NUL byte", 1, true), err)
    -- so does a NUL in a name or a metadata value: C would cut it short, silently
    local w = graphids.zeros(1)
    for _, case in ipairs({
      { { w = w }, { x = "abc\0def" }, "metadata['x'] holds a NUL byte at 3" },
      { { w = w }, { ["k\0"] = "v" }, "a metadata key holds a NUL byte at 1" },
      { { ["w\0x"] = w }, nil, "a tensor key holds a NUL byte at 1" },
    }) do
      ok, err = pcall(gio.save_safetensors, gio.join(dir, "nul.safetensors"), case[1], case[2])
      assert.is_false(ok)
      assert.truthy(err:find("save_safetensors: " .. case[3], 1, true), err)
    end
    assert.is_false(gio.exists(gio.join(dir, "nul.safetensors")))
    -- a key a message quotes shows its control characters escaped, never raw (an ESC [2J would
    -- clear the terminal that reads the message)
    for _, case in ipairs({
      { { ["w\27[2J"] = 3 }, nil, "tensors['w\\x1B[2J'] is a number, expected a live Tensor" },
      { { w = w }, { ["k\27"] = 3 }, "metadata['k\\x1B'] is a number;" },
      { { w = w }, { ["k\27"] = "a\0b" }, "metadata['k\\x1B'] holds a NUL byte at 1" },
      { { w = w }, { ["k\27"] = "\xff" }, "metadata value of 'k\\x1B' is not valid UTF-8 (byte 0)" },
    }) do
      ok, err = pcall(gio.save_safetensors, gio.join(dir, "nul.safetensors"), case[1], case[2])
      assert.is_false(ok)
      assert.truthy(err:find(case[3], 1, true), err)
      assert.falsy(err:find("\27", 1, true), err)
    end
    -- and a value that is not UTF-8, which the reader would refuse
    ok, err = pcall(gio.save_safetensors, gio.join(dir, "nul.safetensors"), { w = w }, { x = "\xff" })
    assert.is_false(ok)
    assert.truthy(err:find("metadata value of 'x' is not valid UTF-8 (byte 0)", 1, true), err)
    -- a name is shown by its bytes, not by a position among the sorted names the caller never saw
    ok, err = pcall(gio.save_safetensors, gio.join(dir, "nul.safetensors"), { a = w, ["z\x01\xff"] = w })
    assert.is_false(ok)
    assert.truthy(err:find("tensor name 'z\\x01\\xff' is not valid UTF-8 (byte 2)", 1, true), err)
    ok, err = pcall(gio.save_safetensors, gio.join(dir, "nul.safetensors"), { w = w }, { ["\xc3"] = "v" })
    assert.is_false(ok)
    assert.truthy(err:find("metadata key '\\xc3' is not valid UTF-8 (byte 0)", 1, true), err)
    ok, err = pcall(gio.save_safetensors, gio.join(dir, "nul.safetensors"), { a = w, [""] = w })
    assert.is_false(ok)
    assert.truthy(err:find("tensor name '' is invalid (names must be non-empty", 1, true), err)
    -- the reader refuses an escaped NUL (\u0000) in any header string, which Python loads
    -- (docs/io.md): names and metadata are C strings
    for _, case in ipairs({ { '"__metadata__":{"note":"a\\u0000b"},', "as a __metadata__ value" },
      { "", "as a tensor name" } }) do
      local name = case[2]:find("tensor") and "w\\u0000" or "w"
      local hdr = "{" .. case[1] .. '"' .. name .. '":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}'
      hdr = hdr .. string.rep(" ", (8 - #hdr % 8) % 8)
      assert(gio.atomic_write(bad, string.pack("<I8", #hdr) .. hdr .. string.rep("\0", 4)))
      t, msg, code = gio.load_safetensors(bad)
      assert.is_nil(t)
      assert.equal("EFORMAT", code)
      assert.truthy(msg:find("\\u0000 is not allowed inside a string " .. case[2], 1, true), msg)
    end
  end)

  it("ends a message about a long path with its reason, the middle elided past 8 KiB", function()
    -- directories of 2-byte characters (a cut could split one), each under NAME_MAX
    local function deep(nbytes)
      local p = dir
      while #p < nbytes do p = p .. "/" .. string.rep("\u{e9}", 100) end
      return p .. "/m.safetensors"
    end
    local w = { w = graphids.zeros(1) }
    local function ends(s, tail) return s:sub(-#tail) == tail end
    -- under PATH_MAX: the whole message (cut at 1 KiB once, losing the reason)
    local missing = deep(4000)
    local ok, msg, code = gio.save_safetensors(missing, w)
    assert.is_nil(ok)
    assert.equal("EIO", code)
    assert.truthy(msg:find(missing, 1, true), msg:sub(1, 200))
    assert.truthy(ends(msg, "': No such file or directory"), msg:sub(-200))
    ok, msg = gio.load_safetensors(missing)
    assert.is_nil(ok)
    assert.equal("EIO: safetensors: cannot open '" .. missing .. "': No such file or directory", msg)
    -- past PATH_MAX, and a message past its 8 KiB: the head and the reason kept, the middle
    -- marked with the bytes it stands for, no character cut in two
    local long = deep(9000)
    local _, saved = gio.save_safetensors(long, w)
    local _, loaded = gio.load_safetensors(long)
    for _, m in ipairs({ saved, loaded }) do
      assert.truthy(ends(m, "/m.safetensors': File name too long"), m:sub(-200))
      local at = m:find("'" .. dir .. "/\u{e9}", 1, true)
      assert.truthy(m:sub(1, 5) == "EIO: " and at and at < 60, m:sub(1, 200))
      local gone = tonumber(m:match("%.%.%.%[(%d+) bytes%]%.%.%."))
      assert.truthy(gone and gone > #long - 8192, m:sub(1, 200))
      assert.truthy(#m <= #"EIO: " + 8191)
      assert.truthy(utf8.len(m), "not UTF-8")
    end
  end)

  it("reads files written by the Python safetensors package and writes files it reads", function()
    local py = peer_python()
    if skip.unless(py, "the peer venv with safetensors and torch is not available") then
      return
    end
    local theirs = gio.join(dir, "theirs.safetensors")
    local mine = gio.join(dir, "mine.safetensors")
    local script = gio.join(dir, "peer.py")
    assert(gio.atomic_write(script, [==[
import sys, torch
from safetensors.torch import save_file, load_file, safe_open
theirs, mine, again = sys.argv[1], sys.argv[2], sys.argv[3]
t = {"f32": torch.tensor([[1.5, -2.0], [3.0, 4.0]]), "i64": torch.tensor([-(2**63), -1, 2**63 - 1]),
     "u8": torch.tensor([0, 255], dtype=torch.uint8), "b": torch.tensor([True, False]),
     "f64": torch.tensor([1e-300, 0.1], dtype=torch.float64), "i32": torch.tensor([-7, 7], dtype=torch.int32),
     "empty": torch.zeros(0, 3)}
save_file(t, theirs, metadata={"format": "pt"})
got = load_file(mine)
for k, v in t.items():
    assert got[k].dtype == v.dtype and torch.equal(got[k], v), k
with safe_open(mine, "pt") as f:
    assert f.metadata() == {"format": "pt"}, f.metadata()
save_file(got, again, metadata={"format": "pt"})
save_file(got, again + ".empty", metadata={})
save_file(got, again + ".none")
print("ok")
]==]))
    assert.is_true(gio.save_safetensors(mine, sample(), { format = "pt" }))
    local again = gio.join(dir, "again.safetensors")
    local p = assert(io.popen(string.format("%s %s %s %s %s 2>&1", py, script, theirs, mine, again)))
    local out = p:read("a")
    p:close()
    assert.equal("ok\n", out)
    local back, meta = gio.load_safetensors(theirs)
    assert.equal("pt", meta.format)
    for name, t in pairs(sample()) do
      assert.is_true(graphids.equal(t, back[name]), name)
    end
    -- The same tensors and metadata give the same bytes from both writers: an empty metadata
    -- table is an empty "__metadata__" (Python's metadata={}), no table none.
    assert.equal(gio.read_file(mine), gio.read_file(again))
    assert.is_true(gio.save_safetensors(mine, sample(), {}))
    assert.equal(gio.read_file(again .. ".empty"), gio.read_file(mine))
    assert.truthy(gio.read_file(mine):find('{"__metadata__":{},', 9, true))
    assert.is_true(gio.save_safetensors(mine, sample()))
    assert.equal(gio.read_file(again .. ".none"), gio.read_file(mine))
  end)
end)

describe("graphids safetensors I/O of device tensors", function()
  local lb = require "loopback"
  -- f16/bf16 tensors live only on a device: the writer copies their bytes from it, with no
  -- conversion (and a device tensor of any other dtype the same way)
  it("writes f16 and bf16 tensors on cuda:0 as F16/BF16, bit for bit (loopback device)", function()
    if skip.unless(lb.built(), "the loopback plugin is not built") then
      return
    end
    local dir = tmpdir()
    local mine, ck = gio.join(dir, "half.safetensors"), gio.join(dir, "ckpt.safetensors")
    local out, rc = lb.run(string.format([==[
local graphids = require "graphids"
local gio = require "graphids.io"
local v = { 1.5, -96, 0.25, 65504, -0.0, 1 / 0, 2 ^ -24, 0.1 }
local h = graphids.tensor(v):to("cuda"):to("f16")
local m = graphids.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }):to("cuda"):to("bf16"):t() -- strided
assert(h.device == "cuda:0" and not m:is_contiguous())
assert(gio.save_safetensors(%q, { h = h, b = graphids.tensor(v):to("cuda"):to("bf16"), m = m,
  f = graphids.tensor({ 0.5, 2 }, { dtype = "f32" }):to("cuda") }, { format = "pt" }))
require("graphids.ckpt").save(%q, { model = { w = h } })
print("saved")
]==], mine, ck))
    assert.equal(0, rc, out)
    assert.equal("saved\n", out)
    -- loaded back here (on the CPU: halves are widened to f32, exactly)
    local v = { 1.5, -96, 0.25, 65504, -0.0, math.huge, 2 ^ -24 }
    local back = gio.load_safetensors(mine)
    assert.equal("f32", back.h.dtype)
    local got = back.h:totable()
    for i = 1, #v do assert.equal(v[i], got[i]) end
    assert.equal(0.0999755859375, got[8]) -- f16's nearest to 0.1
    assert.equal(0.10009765625, back.b:totable()[8]) -- bf16's
    assert.same({ { 1, 4 }, { 2, 5 }, { 3, 6 } }, back.m:totable())
    assert.same({ 0.5, 2 }, back.f:totable())
    assert.same(back.h:totable(), require("graphids.ckpt").load(ck).model.w:totable())
    local py = peer_python()
    if skip.unless(py, "the peer venv with safetensors and torch is not available") then
      return
    end
    -- the Python package reads the same half values, and writes the same bytes for them
    local script = gio.join(dir, "peer.py")
    assert(gio.atomic_write(script, [==[
import sys, torch
from safetensors.torch import load_file, save_file
mine, again = sys.argv[1], sys.argv[2]
v = [1.5, -96.0, 0.25, 65504.0, -0.0, float("inf"), 2.0 ** -24, 0.1]
want = {"h": torch.tensor(v, dtype=torch.float16), "b": torch.tensor(v, dtype=torch.bfloat16),
        "m": torch.tensor([[1.0, 2, 3], [4, 5, 6]], dtype=torch.bfloat16).t(),
        "f": torch.tensor([0.5, 2.0])}
got = load_file(mine)
for k, w in want.items():
    assert got[k].dtype == w.dtype and got[k].shape == w.shape, k
    assert torch.equal(got[k].contiguous().view(torch.uint8), w.contiguous().view(torch.uint8)), k
save_file({k: w.contiguous() for k, w in want.items()}, again, metadata={"format": "pt"})
print("ok")
]==]))
    local again = gio.join(dir, "again.safetensors")
    local p = assert(io.popen(string.format("%s %s %s %s 2>&1", py, script, mine, again)))
    local pout = p:read("a")
    p:close()
    assert.equal("ok\n", pout)
    assert.equal(gio.read_file(again), gio.read_file(mine))
    gio.remove_tree(dir)
  end)
end)

describe("graphids file helpers", function()
  it("writes atomically, leaving no temp file", function()
    local dir = tmpdir()
    local path = gio.join(dir, "x.json")
    assert(gio.write_json(path, { b = 1, a = { 2 } }))
    assert(gio.write_json(path, { c = true }))
    assert.same({ "x.json" }, gio.list_dir(dir))
    assert.same({ c = true }, gio.read_json(path))
    assert.equal('{\n  "c": true\n}\n', gio.read_file(path))
    local ok, msg, code = gio.atomic_write(gio.join(dir, "no/such/dir/f"), "x")
    assert.is_nil(ok)
    assert.equal("EIO", code)
    assert.matches("cannot create a temp file", msg)
    gio.remove_tree(dir)
    assert.is_false(gio.exists(dir))
  end)

  it("makes a second exclusive lock wait and time out with a clear error", function()
    local dir = tmpdir()
    local path = gio.join(dir, ".lock")
    local a = assert(gio.lock(path, { timeout = 0 }))
    assert.is_true(a:held())
    local t0 = os.clock()
    local b, msg, code = gio.lock(path, { exclusive = true, timeout = 0.1 })
    assert.is_nil(b)
    assert.equal("ESTATE", code)
    assert.matches("is held by another process %(exclusive lock not acquired within 0%.10 s%)", msg)
    assert.is_true(os.clock() - t0 < 1)
    do
      local _ <close> = a
    end
    assert.is_false(a:held())
    local s1 = assert(gio.lock(path, { exclusive = false, timeout = 0 }))
    local s2 = assert(gio.lock(path, { exclusive = false, timeout = 0 }))
    assert.is_nil((gio.lock(path, { timeout = 0 })))
    s1:unlock()
    s2:unlock()
    s2:unlock() -- idempotent
    assert.has_error(function()
      gio.lock(path, { wait = 1 })
    end, "lock: unknown option 'wait' (allowed: exclusive, timeout)")
    gio.remove_tree(dir)
  end)

  it("lists directories sorted, stats paths and makes parents", function()
    local dir = tmpdir()
    assert(gio.mkdir_p(gio.join(dir, "b/c/d")))
    assert(gio.atomic_write(gio.join(dir, "a.txt"), "hello"))
    assert.same({ "a.txt", "b" }, gio.list_dir(dir))
    local st = gio.stat(gio.join(dir, "a.txt"))
    assert.equal("file", st.type)
    assert.equal(5, st.size)
    assert.equal("dir", gio.stat(gio.join(dir, "b/c")).type)
    -- (device, inode) names one file: a folder reached through a link is the same pair
    assert(os.execute(string.format("ln -s '%s' '%s'", gio.join(dir, "b/c"), gio.join(dir, "l"))))
    local c, l = gio.stat(gio.join(dir, "b/c")), gio.stat(gio.join(dir, "l"))
    assert.is_true(math.type(c.device) == "integer" and math.type(c.inode) == "integer")
    assert.same({ c.device, c.inode }, { l.device, l.inode })
    assert.are_not.equal(c.inode, gio.stat(gio.join(dir, "b")).inode)
    assert.is_nil(gio.stat(gio.join(dir, "nope")))
    local names, msg = gio.list_dir(gio.join(dir, "nope"))
    assert.is_nil(names)
    assert.matches("nope", msg)
    assert.equal("a/b/c", gio.join("a/", "", "/b", "c"))
    gio.remove_tree(dir)
  end)
end)
