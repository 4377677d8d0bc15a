-- graphids.track.spool: how a sync records what it delivered.  The spool is rewritten once per
-- pass, not once per event (a sync of n events used to rewrite it n times: quadratic), and the
-- marker (tracking_spool.delivered) that stands in for the rewrites keeps a sync killed with
-- SIGKILL at any moment from losing or repeating events.
local core = require "graphids.core"
local fixture = require "track.support.fixture"
local spool = require "graphids.track.spool"
local filestore = require "graphids.track.filestore"

local KEY = "0123456789abcdef0123456789abcdef"
local read = require("graphids.io").read_file

-- A spool of one run for the FileStore at root: created, n metric points (steps 1..n).
local function spool_run(run_dir, root, n)
  assert(spool.append(run_dir, { op = "create_run", run_key = KEY, uri = root, experiment = "e", tags = {} }))
  for i = 1, n do
    assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, uri = root, experiment = "e",
      metrics = { { key = "m", value = i + 0.0, timestamp = i, step = i } } }))
  end
end

-- The steps of metric m in the FileStore, in file order.
local function steps(root)
  local exp = assert(filestore.new(root):find_experiment("e"))
  local out = {}
  for l in (read(root .. "/" .. exp .. "/" .. KEY .. "/metrics/m") or ""):gmatch("[^\n]+") do
    out[#out + 1] = tonumber(l:match("(%d+)$"))
  end
  return out
end

-- A run created and synced into the FileStore at root, and two events of it: P (a param) and M
-- (a metric point), for the spool's run_dir.
local function created_run(run_dir, root)
  spool_run(run_dir, root, 0)
  assert.same({ 1, 0, 0, 0 }, { spool.sync(run_dir) })
  local p = { op = "log_batch", run_key = KEY, run_id = KEY, uri = root, experiment = "e",
    params = { { key = "lr", value = "0.1" } } }
  local m = { op = "log_batch", run_key = KEY, run_id = KEY, uri = root, experiment = "e",
    metrics = { { key = "m", value = 1.0, timestamp = 1, step = 1 } } }
  return p, m
end

local function range(n)
  local out = {}
  for i = 1, n do out[i] = i end
  return out
end

describe("graphids.track.spool delivery record", function()
  local dir
  fixture.tmpdir_each(function(d) dir = d end)

  it("rewrites the spool once per sync, not once per event", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root, 50)
    local real, rewrites = core.atomic_write, 0
    core.atomic_write = function(path, ...) -- luacheck: ignore
      if path == spool.path(run_dir) then rewrites = rewrites + 1 end
      return real(path, ...)
    end
    local res = table.pack(pcall(spool.sync, run_dir))
    core.atomic_write = real -- luacheck: ignore
    assert(res[1], res[2])
    assert.same({ 51, 0, 0, 0 }, { res[2], res[3], res[4], res[5] })
    -- (all delivered: emptied once, then removed after the record; not once per event)
    assert.equal(1, rewrites)
    assert.is_nil(core.stat(spool.path(run_dir)))
    assert.is_nil(core.stat(run_dir .. "/" .. spool.DONE))
    assert.same(range(50), steps(root))
  end)

  it("rewrites a spool whose delivery stopped once, keeping the rest", function()
    local run_dir, root = dir .. "/run", dir .. "/mlruns"
    spool_run(run_dir, root, 30)
    local mlflow = require "graphids.track.mlflow"
    local real_store, real_write, rewrites, n = mlflow.store, core.atomic_write, 0, 0
    mlflow.store = function(o) -- luacheck: ignore
      local s = assert(real_store(o))
      s.log_batch = function(self, ...)
        n = n + 1
        if n > 20 then return nil, "store down", nil, 503 end
        return filestore.log_batch(self, ...)
      end
      return s
    end
    core.atomic_write = function(path, ...) -- luacheck: ignore
      if path == spool.path(run_dir) then rewrites = rewrites + 1 end
      return real_write(path, ...)
    end
    local res = table.pack(pcall(spool.sync, run_dir))
    mlflow.store, core.atomic_write = real_store, real_write -- luacheck: ignore
    assert(res[1], res[2])
    assert.is_nil(res[2])
    assert.matches("^event 22 %(log_batch%): store down", res[3])
    assert.same({ 21, 10 }, { res[4], res[5] })
    assert.equal(1, rewrites)
    assert.is_nil(core.stat(run_dir .. "/" .. spool.DONE))
    assert.equal(10, #assert(spool.read(run_dir)))
    assert.same({ 10, 0, 0, 0 }, { spool.sync(run_dir) })
    assert.same(range(30), steps(root))
  end)

  it("skips what a killed sync recorded as delivered, and ignores a marker the spool no longer matches",
    function()
      local run_dir, root = dir .. "/run", dir .. "/mlruns"
      spool_run(run_dir, root, 5)
      local text = assert(read(spool.path(run_dir)))
      -- a sync that delivered the first three events and was killed before its rewrite
      local evs, ids = assert(spool.read(run_dir)), {}
      local fs = assert(filestore.new(root))
      for i = 1, 3 do assert(spool.apply(fs, evs[i], ids)) end
      local chain, bytes, pos = "", 0, 1
      for _ = 1, 3 do
        local nl = text:find("\n", pos, true)
        chain, bytes, pos = core.sha256(chain .. text:sub(pos, nl - 1)), nl, nl + 1
      end
      local marker = run_dir .. "/" .. spool.DONE
      assert(core.atomic_write(marker, string.format('{"bytes":%d,"chain":"%s","ids":{}}\n', bytes, chain)))
      assert.equal(3, #assert(spool.read(run_dir))) -- what is left to send
      -- the events it delivered are not sent again (a metric point repeated would be a second line)
      fs:log_batch(ids[KEY], { metrics = { { key = "m", value = 9.0, timestamp = 9, step = 99 } } })
      assert.same({ 3, 0, 0, 0 }, { spool.sync(run_dir) })
      assert.same({ 1, 2, 99, 3, 4, 5 }, steps(root))
      assert.is_nil(core.stat(marker))
      -- a marker left by a sync killed after its rewrite: it names lines the spool no longer
      -- starts with, and nothing is skipped
      spool_run(run_dir, dir .. "/mlruns2", 5)
      local other = assert(read(spool.path(run_dir))):gsub('"value":1%.0', '"value":1.5', 1)
      assert(core.atomic_write(spool.path(run_dir), other))
      assert(core.atomic_write(marker, string.format('{"bytes":%d,"chain":"%s","ids":{}}\n', bytes, chain)))
      assert.equal(6, #assert(spool.read(run_dir)))
      assert.same({ 6, 0, 0, 0 }, { spool.sync(run_dir) })
      assert.same(range(5), steps(dir .. "/mlruns2"))
    end)

  it("ignores the marker of a rewritten spool even where it starts with lines equal to the delivered",
    function()
      -- lines P, P, M (two identical events): a sync delivered the first P, rewrote the spool to
      -- P, M and was killed before removing its marker; that marker's lines (one P) match the
      -- rewritten spool's first line, but the spool is another file now (the rewrite renamed a
      -- new one into place), so nothing is skipped
      local run_dir = dir .. "/run"
      local p, m = created_run(run_dir, dir .. "/mlruns")
      for _, ev in ipairs({ p, p, m }) do assert(spool.append(run_dir, ev)) end
      local text = assert(read(spool.path(run_dir)))
      local first = text:sub(1, text:find("\n", 1, true))
      local marker = run_dir .. "/" .. spool.DONE
      assert(core.atomic_write(marker, string.format('{"bytes":%d,"chain":"%s","ids":{},"inode":%d}\n',
        #first, core.sha256(first:sub(1, -2)), core.stat(spool.path(run_dir)).inode)))
      assert.equal(2, #assert(spool.read(run_dir))) -- (the marker holds for the file it names)
      assert(core.atomic_write(spool.path(run_dir), text:sub(#first + 1)))
      assert.equal(2, #assert(spool.read(run_dir))) -- P, M: the second P is not taken as sent
    end)

  it("keeps a record left by a sync stopped after emptying the spool off the spool a fit makes next",
    function()
      -- the sync delivered everything (P) and stopped before removing its record; a fit then
      -- appends P and M again: both are new events, whatever inode the next spool gets
      local run_dir = dir .. "/run"
      local p, m = created_run(run_dir, dir .. "/mlruns")
      assert(spool.append(run_dir, p))
      local real = os.remove
      os.remove = function(path) -- luacheck: ignore
        if path == run_dir .. "/" .. spool.DONE then error("stopped here", 0) end
        return real(path)
      end
      pcall(spool.sync, run_dir, { notify = function() end })
      os.remove = real -- luacheck: ignore
      assert.is_not_nil(core.stat(run_dir .. "/" .. spool.DONE))
      assert(spool.append(run_dir, p))
      assert(spool.append(run_dir, m))
      assert.equal(2, #assert(spool.read(run_dir)))
    end)

  it("writes a point of a batch a killed sync wrote in part once, after a resumed fit logged past it",
    function()
      local root, run_dir = dir .. "/mlruns", dir .. "/run"
      local fs = assert(filestore.new(root))
      assert(fs:init_root())
      local exp = assert(fs:get_or_create_experiment("e"))
      local id = assert(fs:create_run({ experiment_id = exp, run_name = "r", start_time = 1,
        tags = { { key = "graphids.run_key", value = KEY } } }))
      local cpu, mem = "system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"
      local b = { { key = cpu, value = 1.0, timestamp = 10, step = 5 },
        { key = mem, value = 2.0, timestamp = 10, step = 5 } }
      assert(spool.append(run_dir, { op = "log_batch", run_key = KEY, run_id = id, uri = root,
        experiment = "e", metrics = b }))
      assert(fs:log_batch(id, { metrics = { b[1] } })) -- the killed sync wrote the first key only
      assert(fs:log_batch(id, { metrics = { { key = cpu, value = 3.0, timestamp = 20, step = 6 },
        { key = mem, value = 4.0, timestamp = 20, step = 6 } } })) -- the resumed fit, live
      spool.sync(run_dir, { notify = function() end })
      local path = root .. "/" .. exp .. "/" .. id .. "/metrics/"
      assert.equal("10 1.0 5\n20 3.0 6\n", read(path .. cpu))
      assert.equal("20 4.0 6\n10 2.0 5\n", read(path .. mem))
    end)

  it("loses and repeats nothing when the sync is killed with SIGKILL again and again", function()
    local run_dir, root, n = dir .. "/run", dir .. "/mlruns", 1000
    spool_run(run_dir, root, n)
    local script = dir .. "/sync.lua"
    local f = assert(io.open(script, "w"))
    f:write(string.format([[
      package.path = "stdlib/?.lua;stdlib/?/init.lua;" .. package.path
      require("graphids.track.spool").sync(%q, { notify = function() end })
    ]], run_dir))
    f:close()
    local cpath = (os.getenv("GRAPHIDS_BUILD") or "build") .. "/lua/?.so"
    math.randomseed(37)
    local kills = 0
    -- (timeout's SIGKILL goes to its own process group too, so it may exit before the killed
    -- sync is gone and its lock released)
    local function settled()
      assert(core.lock(run_dir .. "/" .. spool.SYNC_LOCK, { exclusive = true, timeout = 10 })):unlock()
    end
    for _ = 1, 20 do
      settled()
      if not core.stat(spool.path(run_dir)) then break end
      local after = 0.01 + math.random() * 0.1
      local ok, how, code = os.execute(string.format(
        "LUA_CPATH='%s' timeout -s KILL %.3f lua5.4 %s 2>/dev/null", cpath, after, script))
      if not ok and how == "exit" and code == 137 then kills = kills + 1 end
    end
    assert.is_true(kills >= 3, kills .. " syncs killed: make the spool longer")
    settled()
    local sent, err = spool.sync(run_dir, { notify = function() end })
    assert(sent, err)
    assert.is_nil(core.stat(spool.path(run_dir)))
    assert.same(range(n), steps(root)) -- each step once, in order
  end)
end)
