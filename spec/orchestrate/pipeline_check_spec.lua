-- pipeline_check_spec.lua -- `graphids pipeline --dry-run` names what the run could not do with
-- its run dirs: a lake it cannot write, a run dir it cannot read (taken for an empty one), for
-- every stage, the extract stage's folder too; the run refuses such a run dir as the dry run names
-- it, before the stage runs; and a folder that cannot be read is said so,
-- not reported missing or hidden (runs list/show, a dataset's folders).  Permission bits do not
-- bind root: the checks that need them run the host as nobody (setpriv), or are left pending
-- with the reason.
local gio = require "graphids.io"
local pipeline = require "graphids.orchestrate.pipeline"
local proc = require "trainer.support.proc"
local tiny = require "orchestrate.support.tiny"

local lua = tiny.lua_source

local ONE = { { "trainer.max_epochs", 1 } }
local PIPE = tiny.pipeline("check", {
  { name = "gat", recipe = "stages/gat.lua", set = tiny.set("gat", ONE) },
  { name = "vgae", recipe = "stages/vgae.lua", set = tiny.set("vgae", ONE) },
  { name = "fs", recipe = "stages/fusion_states.lua", inputs = { vgae_ckpt = "vgae", gat_ckpt = "gat" } },
})

local function sh(cmd)
  local p = io.popen(cmd .. " 2>/dev/null")
  local out = p:read("a")
  p:close()
  return out
end

-- How to run the host without root's privileges: a command prefix, or nil and why not.
local function unprivileged()
  if sh("id -u"):match("^(%d+)") ~= "0" then return "" end
  if sh("command -v setpriv") == "" then return nil, "root, and no setpriv to run as nobody" end
  local probe = "setpriv --reuid=65534 --regid=65534 --clear-groups true && echo ok"
  if sh(probe):find("ok", 1, true) == nil then
    return nil, "root, and setpriv cannot run as nobody here"
  end
  return "setpriv --reuid=65534 --regid=65534 --clear-groups "
end

describe("graphids pipeline --dry-run", function()
  local tmp, path
  setup(function()
    tmp = proc.tmpdir()
    os.execute("chmod 755 " .. proc.q(tmp))
    path = gio.join(tmp, "check.lua")
    proc.spit(path, PIPE)
  end)
  teardown(function() proc.rmtree(tmp) end)

  local function host(prefix, args)
    local err = os.tmpname()
    local words = {}
    for i, a in ipairs(args) do words[i] = proc.q(a) end
    local p = io.popen(("%s%s %s 2>%s; echo \"rc=$?\""):format(prefix, proc.q(proc.host),
      table.concat(words, " "), proc.q(err)))
    local out = p:read("a")
    p:close()
    local e = proc.slurp(err)
    os.remove(err)
    return tonumber(out:match("rc=(%d+)\n$")), (out:gsub("rc=%d+\n$", "")), e
  end

  local function dry_run(prefix, lake)
    local rc, _, err = host(prefix, { "pipeline", path, "--lake-root", lake, "--dry-run" })
    return rc, err
  end

  -- the host's prefix without root's privileges, or nil with the test pending (and why)
  local function unprivileged_or_pending()
    local prefix, why = unprivileged()
    if prefix == nil then pending("skipped: " .. why) end
    return prefix
  end

  -- A pipeline of stages named name, written where the unprivileged host can read it, run once
  -- into a fresh lake it can write: the pipeline's path and the lake.
  local function ran_as(prefix, name, stages)
    local run_path = gio.join(tmp, name .. ".lua")
    proc.spit(run_path, tiny.pipeline(name, stages))
    os.execute("chmod 644 " .. proc.q(run_path))
    local lake = gio.join(tmp, "lake_" .. name)
    assert(gio.mkdir_p(lake))
    os.execute("chmod 777 " .. proc.q(lake))
    local rc, out, err = host(prefix, { "pipeline", run_path, "--lake-root", lake })
    assert.equal(0, rc, out .. err)
    return run_path, lake
  end

  -- the checks of a dataset are remembered between stages of the same dataset, data root and
  -- lake, and catalog: another catalog may list the name as another dataset
  it("checks a dataset again for a stage of another catalog", function()
    -- (there, a folder of captures whose train sub-folder is missing)
    local elsewhere = { synthetic = { train = { "train_01_attack_free" }, test = { "test_01" } } }
    local root = gio.join(tmp, "root_catalogs")
    assert(gio.mkdir_p(gio.join(root, "synthetic")))
    local two = gio.join(tmp, "catalogs.lua")
    proc.spit(two, tiny.pipeline("catalogs", {
      { name = "gat", recipe = "stages/gat.lua", tla = { data_root = root }, set = tiny.set("gat", ONE) },
      { name = "vgae", recipe = "stages/vgae.lua", tla = { data_root = root },
        set = tiny.set("vgae", { { "trainer.max_epochs", 1 }, { "data.init_args.catalog", elsewhere } }) },
    }))
    local problems = pipeline.check(pipeline.load(two, { lake_root = gio.join(tmp, "lake_catalogs") }))
    assert.equal(1, #problems, require("graphids.json").encode(problems))
    assert.equal("vgae", problems[1].stage)
    assert.truthy(problems[1].problem:find("train_01_attack_free", 1, true), problems[1].problem)
  end)

  it("names a run dir under a file, for every stage (the extract stage's too)", function()
    local lake = gio.join(tmp, "lake_file")
    assert(gio.mkdir_p(lake))
    proc.spit(gio.join(lake, "synthetic"), "not a folder")
    local problems = pipeline.check(pipeline.load(path, { lake_root = lake }))
    local by = {}
    for _, q in ipairs(problems) do by[q.stage] = q.problem end
    for _, name in ipairs({ "gat", "vgae", "fs" }) do
      local q = by[name]
      assert.truthy(q and q:find("is not a folder", 1, true), name .. ": " .. tostring(q))
    end
  end)

  it("exits 1 naming a lake it cannot write and a run dir it cannot read", function()
    local prefix = unprivileged_or_pending()
    if prefix == nil then return end
    -- a lake this user cannot write (root's, 0755): no stage's run dir can be created
    local lake = gio.join(tmp, "lake_ro")
    assert(gio.mkdir_p(lake))
    os.execute("chmod 755 " .. proc.q(lake))
    local rc, err = dry_run(prefix, lake)
    assert.equal(1, rc, err)
    for _, name in ipairs({ "gat", "vgae", "fs" }) do
      assert.truthy(err:find("stage '" .. name .. "': cannot create the run dir " .. lake, 1, true), err)
    end
    assert.truthy(err:find("cannot write into " .. lake .. ": Permission denied", 1, true), err)
    -- the run fails each stage in the same words before it starts, not at its lock file
    local out
    rc, out = host(prefix, { "pipeline", path, "--lake-root", lake })
    assert.equal(1, rc, out)
    for _, name in ipairs({ "gat", "vgae" }) do
      assert.truthy(out:find("== " .. name .. ": FAILED: cannot create the run dir " .. lake, 1, true), out)
    end
    assert.truthy(out:find("== fs: blocked", 1, true), out)
    -- a writable lake whose gat run dir this user cannot read (nor write)
    local open = gio.join(tmp, "lake_open")
    local gat = gio.join(open, "synthetic/gat/focal/seed_42")
    assert(gio.mkdir_p(gat))
    os.execute("chmod -R 777 " .. proc.q(open) .. " && chmod 700 " .. proc.q(gat))
    rc, err = dry_run(prefix, open)
    assert.equal(1, rc, err)
    assert.truthy(err:find("stage 'gat': cannot read the run dir " .. gat .. ": ", 1, true), err)
    assert.is_nil(err:find("stage 'vgae'", 1, true), err)
    -- nothing was left behind by the checks
    assert.same({ "synthetic" }, gio.list_dir(open))
    assert.same({ "gat" }, gio.list_dir(gio.join(open, "synthetic")))
  end)

  it("names a checkpoints or predictions folder it cannot write, as the run refuses the stage", function()
    local prefix = unprivileged_or_pending()
    if prefix == nil then return end
    local lake = gio.join(tmp, "lake_ckpts")
    local gat = gio.join(lake, "synthetic/gat/focal/seed_42")
    local vgae = gio.join(lake, "synthetic/vgae/vgae/seed_42")
    assert(gio.mkdir_p(gio.join(gat, "checkpoints")))
    assert(gio.mkdir_p(gio.join(vgae, "predictions/test")))
    -- the run dirs writable, a folder in each another user's (a fit would fail after an epoch)
    os.execute("chmod -R 777 " .. proc.q(lake) .. " && chmod 555 " .. proc.q(gio.join(gat, "checkpoints")) ..
      " " .. proc.q(gio.join(vgae, "predictions/test")))
    local gat_named = "cannot write into the run dir " .. gat .. ": " .. gat ..
      "/checkpoints: Permission denied"
    local vgae_named = "cannot write into the run dir " .. vgae .. ": " .. vgae ..
      "/predictions/test: Permission denied"
    local rc, err = dry_run(prefix, lake)
    assert.equal(1, rc, err)
    assert.truthy(err:find("stage 'gat': " .. gat_named, 1, true), err)
    assert.truthy(err:find("stage 'vgae': " .. vgae_named, 1, true), err)
    -- the run refuses both in the same words before they start (nothing trained)
    local out
    rc, out, err = host(prefix, { "pipeline", path, "--lake-root", lake })
    assert.equal(1, rc, out .. err)
    assert.truthy(out:find("== gat: FAILED: " .. gat_named, 1, true), out)
    assert.truthy(out:find("== vgae: FAILED: " .. vgae_named, 1, true), out)
    assert.same({}, gio.list_dir(gio.join(gat, "checkpoints")))
  end)

  it("names a run dir or dataset folder it cannot read as such, not as missing or absent", function()
    local prefix = unprivileged_or_pending()
    if prefix == nil then return end
    -- a run dir this user cannot read: listed as damaged, shown with the reason
    local lake = gio.join(tmp, "lake_runs")
    local dir = gio.join(lake, "synthetic/gat/focal/seed_42")
    assert(gio.mkdir_p(dir))
    assert(gio.write_json(gio.join(dir, "resolved.json"), { identity = { dataset = "synthetic", stage = "gat",
      variant = "focal", seed = 42 } }))
    os.execute("chmod -R 755 " .. proc.q(lake) .. " && chmod 700 " .. proc.q(dir))
    local _, out, err = host(prefix, { "runs", "list", "--lake-root", lake })
    assert.truthy(out:find(dir, 1, true) or err:find(dir, 1, true), out .. err)
    assert.truthy((out .. err):find("damaged", 1, true), out .. err)
    _, out, err = host(prefix, { "runs", "show", dir })
    assert.truthy((out .. err):find(dir .. " cannot be read (Permission denied)", 1, true), out .. err)
    assert.is_nil((out .. err):find("is not a run dir", 1, true), out .. err)
    -- a dataset folder this user cannot read
    local root = gio.join(tmp, "data")
    assert(gio.mkdir_p(gio.join(root, "mine/train_01")))
    proc.spit(gio.join(root, "mine/train_01/a.csv"), "x")
    os.execute("chmod -R 755 " .. proc.q(root) .. " && chmod 000 " .. proc.q(gio.join(root, "mine")))
    local script = gio.join(tmp, "resolve.lua")
    proc.spit(script, table.concat({
      "package.path = 'stdlib/?.lua;stdlib/?/init.lua;' .. package.path",
      "package.cpath = 'build/lua/?.so;' .. package.cpath",
      "local c = require 'graphids.data.catalog'",
      "local ok, e = pcall(c.resolve_dataset, 'mine', {data_root = " .. lua(root) .. ",",
      "  catalog = {mine = {train = {'train_01'}, test = {}}}})",
      "io.stdout:write(tostring(e))",
    }, "\n"))
    local p = io.popen(prefix .. "lua5.4 " .. proc.q(script) .. " 2>&1")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("dataset 'mine': folder " .. root .. "/mine cannot be read (Permission denied)", 1,
      true), out)
    os.execute("chmod 755 " .. proc.q(gio.join(root, "mine")) .. " && chmod 000 " ..
      proc.q(gio.join(root, "mine/train_01")))
    p = io.popen(prefix .. "lua5.4 " .. proc.q(script) .. " 2>&1")
    out = p:read("a")
    p:close()
    assert.truthy(out:find("train folder " .. root .. "/mine/train_01 cannot be read (Permission denied)", 1,
      true), out)
  end)

  it("fails a stage whose run dir it cannot read as the dry run names it, before running it", function()
    local prefix = unprivileged_or_pending()
    if prefix == nil then return end
    -- teacher -> student, and a vgae of its own (the extract stage cannot run on the tiny data)
    local run_path, lake = ran_as(prefix, "unreadable", {
      { name = "gat", recipe = "stages/gat.lua", set = tiny.set("gat", ONE) },
      { name = "kd", recipe = "stages/gat_kd.lua", inputs = { teacher_ckpt = "gat" },
        set = tiny.set("gat", ONE) },
      { name = "vgae", recipe = "stages/vgae.lua", set = tiny.set("vgae", ONE) },
    })
    local rc, out, err
    -- the gat's run dir, trained, becomes another user's that this one cannot read
    local p = pipeline.load(run_path, { lake_root = lake })
    local gat, kd, vgae = p.stages[1].run_dir, p.stages[2].run_dir, p.stages[3].run_dir
    local before = { tiny.snapshot(kd, true), tiny.snapshot(vgae, true) }
    -- (root's when this spec runs as root and the host as nobody; 000 binds its owner too)
    os.execute("chown -R 0:0 " .. proc.q(gat) .. " 2>/dev/null; chmod 000 " .. proc.q(gat))
    local named = "cannot read the run dir " .. gat .. ": " .. gat .. ": Permission denied"
    local _, _, dry = host(prefix, { "pipeline", run_path, "--lake-root", lake, "--dry-run" })
    assert.truthy(dry:find("stage 'gat': " .. named, 1, true), dry)
    rc, out, err = host(prefix, { "pipeline", run_path, "--lake-root", lake })
    assert.equal(1, rc, out .. err)
    -- refused at once, in the dry run's words (not planned as an empty run dir, met at its lock)
    assert.truthy(out:find("== gat: FAILED: " .. named, 1, true), out .. err)
    assert.is_nil(out:find("== gat: run", 1, true), out)
    assert.is_nil((out .. err):find("cannot be locked", 1, true), out .. err)
    -- as any failed stage: its dependant is blocked, the other stage's results stay as they were
    assert.truthy(out:find("== kd: blocked (upstream stage 'gat' did not complete)", 1, true), out)
    assert.truthy(out:find("== vgae: skip", 1, true), out)
    assert.same(before, { tiny.snapshot(kd, true), tiny.snapshot(vgae, true) })
    -- a lake of finished results this user can read but not write: the dry run and the run agree
    -- that every stage is skipped (a skipped stage only reads its folder)
    os.execute("chown -R 0:0 " .. proc.q(lake) .. " 2>/dev/null; chmod -R a+rX,go-w " .. proc.q(lake))
    rc, out, err = host(prefix, { "pipeline", run_path, "--lake-root", lake, "--dry-run" })
    assert.equal(0, rc, out .. err)
    assert.is_nil(err:find("cannot write", 1, true), err)
    rc, out, err = host(prefix, { "pipeline", run_path, "--lake-root", lake })
    assert.equal(0, rc, out .. err)
    for _, name in ipairs({ "gat", "kd", "vgae" }) do
      assert.truthy(out:find("== " .. name .. ": skip", 1, true), out)
    end
    os.execute("chmod -R u+w " .. proc.q(lake)) -- (for the teardown)
  end)

  it("runs a stage whose input's finished run dir is read-only and holds no lock file", function()
    local prefix = unprivileged_or_pending()
    if prefix == nil then return end
    local run_path, lake = ran_as(prefix, "ro_input", {
      { name = "gat", recipe = "stages/gat.lua", set = tiny.set("gat", ONE) },
      { name = "kd", recipe = "stages/gat_kd.lua", inputs = { teacher_ckpt = "gat" },
        set = tiny.set("gat", ONE) },
    })
    local rc, out, err
    local p = pipeline.load(run_path, { lake_root = lake })
    local gat, kd = p.stages[1].run_dir, p.stages[2].run_dir
    -- the teacher's run dir published read-only (another user's, no lock file); the student's gone
    assert(os.remove(gio.join(gat, ".stage.lock")))
    os.execute("chown -R 0:0 " .. proc.q(gat) .. " 2>/dev/null; chmod -R a-w " .. proc.q(gat))
    proc.rmtree(kd)
    local before = tiny.snapshot(gat)
    rc, out, err = host(prefix, { "pipeline", run_path, "--lake-root", lake, "--dry-run" })
    assert.equal(0, rc, out .. err)
    rc, out, err = host(prefix, { "pipeline", run_path, "--lake-root", lake })
    os.execute("chmod -R u+w " .. proc.q(gat)) -- (for the teardown)
    assert.equal(0, rc, out .. err)
    assert.truthy(out:find("== gat: skip", 1, true), out)
    assert.truthy(out:find("== kd: done", 1, true), out)
    assert.is_nil((out .. err):find("cannot be locked", 1, true), out .. err)
    assert.is_true(gio.exists(gio.join(kd, ".test_complete")))
    assert.equal(before, tiny.snapshot(gat))
  end)
end)
