-- ckpt_spec.lua -- graphids.ckpt: contents round trip, byte-identical files, sidecars (verify,
-- mismatch, mid-protocol states), stale leftovers, removal, markers, the compatibility guard, and
-- reading by Python's safetensors package.
local graphids = require "graphids"
local optim = require "graphids.optim"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local skip = require "skip"
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local function model_and_opt()
  local m = tiny.MLP { in_dim = 3, hidden = 5, seed = 2, noise = 0 }
  local opt = optim.Adam(m:parameters(), { lr = 0.1 })
  local sched = optim.lr_scheduler.CosineAnnealingLR(opt, 7)
  local x = graphids.randn({ 6, 3 }, { generator = graphids.Generator(9) })
  local y = graphids.tensor({ 0, 1, 1, 0, 1, 0 }, { dtype = "i64" })
  local b = { x = x, y = y, num_graphs = 6 }
  for _ = 1, 3 do
    opt:zero_grad()
    local loss = m:training_step(b, {})
    loss:backward()
    opt:step()
  end
  sched:step()
  return m, opt, sched, b
end

local function contents(m, opt, sched)
  return {
    model = m:state_dict(), optimizer = opt:state_dict(), scheduler = sched:state_dict(),
    rng = { trainer = graphids.Generator(5):get_state() }, epoch = 4, global_step = 17,
    class_path = m.class_path, hyper_parameters = m:hparams(), metrics = { val_loss = 0.25, val_acc = 1.0 },
    callbacks = { ["EarlyStopping{monitor=val_loss,mode=min}"] = { wait_count = 2, best_score = 0.2 } },
    loader = { seed = 3, epoch = 5, position = 0 }, trainer = { next_epoch = 5, should_stop = false },
    config_digest = "cfg123", tracking_run_id = "run42",
  }
end

describe("graphids.ckpt", function()
  local dir
  before_each(function()
    dir = proc.tmpdir()
  end)
  after_each(function()
    proc.rmtree(dir)
  end)

  it("round-trips every part of a checkpoint", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    local digest = ckpt.save(path, contents(m, opt, sched))
    assert.equal(graphids.sha256_file(path), digest)
    assert.equal(digest .. "  c.safetensors\n", proc.slurp(path .. ".sha256"))
    local c = ckpt.load(path)
    assert.equal("verified", c.sidecar)
    assert.equal("pt", c.metadata.format)
    assert.equal(1, c.format_version)
    assert.equal(4, c.epoch)
    assert.equal(17, c.global_step)
    assert.equal("spec.trainer.TinyMLP", c.class_path)
    assert.equal(5, c.hyper_parameters.hidden)
    assert.equal(0.25, c.metrics.val_loss)
    assert.equal(2, c.callbacks["EarlyStopping{monitor=val_loss,mode=min}"].wait_count)
    assert.same({ seed = 3, epoch = 5, position = 0 }, c.loader)
    assert.equal("cfg123", c.config_digest)
    assert.equal("run42", c.tracking_run_id)
    assert.equal(graphids.version(), c.runtime_version)
    assert.equal(graphids.Generator(5):get_state(), c.rng.trainer)
    for _, name in ipairs(m:state_dict():keys()) do
      assert.is_true(graphids.equal(m:state_dict():get(name), c.model[name]), name)
    end
    assert.is_not_nil(c.tensors["optimizer.state.0.exp_avg"])
    assert.same(sched:state_dict(), c.scheduler)
    assert.is_nil(c.accumulated_grads)
    -- a save inside a group of accumulated batches: the gradients by parameter position
    local params = m:parameters()
    local with = contents(m, opt, sched)
    with.accumulated_grads = { [1] = params[1].grad, [3] = params[3].grad }
    ckpt.save(path, with)
    local c2 = ckpt.load(path)
    assert.same({ 1, 3 }, require("graphids.nn._util").sorted_keys(c2.accumulated_grads))
    assert.is_true(graphids.equal(params[3].grad, c2.accumulated_grads[3]))
    assert.is_not_nil(c2.tensors["accumulated_grad.2"])
  end)

  it("restores the optimizer so that later steps are bit-identical", function()
    local m, opt, sched, b = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    ckpt.save(path, contents(m, opt, sched))
    local c = ckpt.load(path)
    local m2 = tiny.MLP { in_dim = 3, hidden = 5, seed = 99, noise = 0 }
    m2:load_state_dict(c.model)
    local opt2 = optim.Adam(m2:parameters(), { lr = 0.5 })
    local sched2 = optim.lr_scheduler.CosineAnnealingLR(opt2, 7)
    opt2:load_state_dict(c.optimizer)
    sched2:load_state_dict(c.scheduler)
    for _, pair in ipairs({ { m, opt, sched }, { m2, opt2, sched2 } }) do
      for _ = 1, 2 do
        pair[2]:zero_grad()
        pair[1]:training_step(b, {}):backward()
        pair[2]:step()
        pair[3]:step()
      end
    end
    for _, name in ipairs(m:state_dict():keys()) do
      assert.is_true(graphids.equal(m:state_dict():get(name), m2:state_dict():get(name)), name)
    end
  end)

  it("writes byte-identical files for identical contents", function()
    local m, opt, sched = model_and_opt()
    local a, b = gio.join(dir, "a.safetensors"), gio.join(dir, "b.safetensors")
    ckpt.save(a, contents(m, opt, sched))
    ckpt.save(b, contents(m, opt, sched))
    assert.equal(proc.slurp(a), proc.slurp(b))
  end)

  it("keeps a replaced file's mode and writes through a symbolic link, sidecar and all", function()
    local real, link = gio.join(dir, "real.safetensors"), gio.join(dir, "link.safetensors")
    local function mode(p)
      local h = assert(io.popen("stat -c '%a %F' " .. proc.q(p)))
      local out = h:read("a")
      h:close()
      return out
    end
    ckpt.save(real, { model = { w = graphids.zeros(2) } })
    assert(os.execute("chmod 600 " .. proc.q(real) .. " && ln -s real.safetensors " .. proc.q(link)))
    ckpt.save(real, { model = { w = graphids.ones(2) } })
    assert.equal("600 regular file\n", mode(real)) -- a private checkpoint stays private
    ckpt.save(link, { model = { w = graphids.ones(3) } })
    assert.equal("symbolic link\n", mode(link):match(" (.*)")) -- still a link
    assert.equal("600 regular file\n", mode(real))
    assert.same({ 1, 1, 1 }, ckpt.load(real).model.w:totable())
    -- one sidecar, beside the file: both names verify against it
    assert.equal("verified", ckpt.load(link).sidecar)
    assert.equal("verified", ckpt.load(real).sidecar)
    assert.same({ "link.safetensors", "real.safetensors", "real.safetensors.sha256" }, gio.list_dir(dir))
    assert.truthy(proc.slurp(real .. ".sha256"):find("  real.safetensors\n", 1, true))
  end)

  it("refuses a file that does not match its sidecar, naming both digests", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    ckpt.save(path, contents(m, opt, sched))
    local bytes = proc.slurp(path)
    local i = #bytes - 3
    proc.spit(path, bytes:sub(1, i - 1) .. string.char((bytes:byte(i) + 1) % 256) .. bytes:sub(i + 1))
    assert.error_matches(function() ckpt.load(path) end,
      "sha256 mismatch: the file hashes to %x+, its sidecar")
    proc.spit(path .. ".sha256", "not a digest\n")
    assert.error_matches(function() ckpt.load(path) end, "sidecar .* is malformed")
    -- the right digest with garbage after it, or no file name, is no sha256sum line either
    ckpt.save(path, contents(m, opt, sched))
    local line = proc.slurp(path .. ".sha256")
    local hex = line:sub(1, 64)
    for _, bad in ipairs({ hex .. "zzzz\n", hex .. "\n", hex .. "  \n" }) do
      proc.spit(path .. ".sha256", bad)
      assert.error_matches(function() ckpt.load(path) end, "sidecar .* is malformed %(line")
    end
    proc.spit(path .. ".sha256", hex .. " *c.safetensors\n") -- sha256sum's binary mode
    assert.equal("verified", ckpt.load(path).sidecar)
  end)

  it("accepts either complete version while a write is in flight (two-line sidecar)", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    ckpt.save(path, contents(m, opt, sched))
    local old_bytes, old = proc.slurp(path), graphids.sha256_file(path)
    local c2 = contents(m, opt, sched)
    c2.epoch = 5
    local other = gio.join(dir, "d.safetensors")
    local new = ckpt.save(other, c2)
    -- The state after step 2 of the protocol: sidecar lists new then old, file still old.
    proc.spit(path .. ".sha256", new .. "  c.safetensors\n" .. old .. "  c.safetensors\n")
    assert.equal(4, ckpt.load(path).epoch)
    -- After the rename, before the sidecar is rewritten: the new file.
    proc.spit(path, proc.slurp(other))
    assert.equal(5, ckpt.load(path).epoch)
    -- And the next save from that state lists the right old digest.
    ckpt.save(path, contents(m, opt, sched))
    assert.equal(old_bytes, proc.slurp(path))
    assert.equal(old .. "  c.safetensors\n", proc.slurp(path .. ".sha256"))
  end)

  it("settles a two-line sidecar to the digest of the file that is there", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    local d = ckpt.save(path, contents(m, opt, sched))
    assert.is_false(ckpt.settle(path))
    proc.spit(path .. ".sha256", string.rep("0", 64) .. "  c.safetensors\n" .. d .. "  c.safetensors\n")
    assert.is_true(ckpt.settle(path))
    assert.equal(d .. "  c.safetensors\n", proc.slurp(path .. ".sha256"))
    proc.spit(path .. ".sha256", string.rep("0", 64) .. "  c\n" .. string.rep("1", 64) .. "  c\n")
    assert.error_matches(function() ckpt.settle(path) end, "sha256 mismatch")
    assert.is_false(ckpt.settle(gio.join(dir, "absent.safetensors")))
  end)

  it("says why a sidecar could not be written, and keeps the file it had", function()
    local path = gio.join(dir, "w.safetensors")
    ckpt.write_verified(path, function(p) assert(gio.atomic_write(p, "first")) end)
    os.remove(path .. ".sha256")
    assert(gio.mkdir_p(gio.join(path .. ".sha256", "x")))
    assert.error_matches(function()
      ckpt.write_verified(path, function(p) assert(gio.atomic_write(p, "second")) end)
    end, "checkpoint sidecar '.*w.safetensors.sha256': EIO: atomic write .*: rename: Is a directory")
    assert.equal("first", proc.slurp(path))
    assert.is_false(gio.exists(gio.join(dir, ".w.safetensors.pending"))) -- (it was left behind)
    proc.rmtree(path .. ".sha256")
  end)

  it("refuses a FILE that is a folder before writing anything, and leaves nothing when a rename fails",
    function()
      local folder = gio.join(dir, "scratch")
      assert(gio.mkdir_p(folder))
      assert.error_matches(function() ckpt.save(folder, { model = { w = graphids.ones({ 2 }) } }) end,
        "checkpoint '.*scratch' is not a regular file %(a folder%); nothing was written")
      assert.same({ "scratch" }, gio.list_dir(dir))
      -- a folder that appears once the new contents are written (the check above cannot see it):
      -- the rename fails, and neither .FILE.pending nor a sidecar for a file not there is left
      local path = gio.join(dir, "late.safetensors")
      assert.error_matches(function()
        ckpt.write_verified(path, function(p)
          assert(gio.atomic_write(p, "new"))
          assert(gio.mkdir_p(path))
        end)
      end, "cannot rename '.*%.late%.safetensors%.pending' over it")
      assert.same({ "late.safetensors", "scratch" }, gio.list_dir(dir))
      -- over an existing file, the sidecar it had is put back
      local kept = gio.join(dir, "kept.safetensors")
      ckpt.write_verified(kept, function(p) assert(gio.atomic_write(p, "old")) end)
      local side = proc.slurp(kept .. ".sha256")
      assert.error_matches(function()
        ckpt.write_verified(kept, function(p)
          assert(gio.atomic_write(p, "new"))
          os.remove(kept)
          assert(gio.mkdir_p(kept))
        end)
      end, "cannot rename")
      assert.equal(side, proc.slurp(kept .. ".sha256"))
      assert.is_false(gio.exists(gio.join(dir, ".kept.safetensors.pending")))
    end)

  it("loads a file without a sidecar and says it was not verified", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    ckpt.save(path, contents(m, opt, sched))
    os.remove(path .. ".sha256")
    assert.equal("missing", ckpt.load(path).sidecar)
    -- a sidecar that is there but cannot be read is no "missing" one: the load would go unverified
    assert(gio.mkdir_p(path .. ".sha256"))
    assert.error_matches(function() ckpt.load(path) end,
      "its sidecar '.*c.safetensors.sha256' cannot be read %(a dir, not a file%)")
    proc.rmtree(path .. ".sha256")
    -- a FIFO is named without being opened (a read would wait for a writer forever)
    assert(os.execute("mkfifo " .. path .. ".sha256"))
    assert.error_matches(function() ckpt.load(path) end,
      "its sidecar '.*c.safetensors.sha256' cannot be read %(a FIFO, socket or device, not a file%)")
    os.remove(path .. ".sha256")
    -- nor is one whose status cannot be read
    local a, b = path .. ".sha256", path .. ".loop"
    assert(os.execute("ln -s " .. b .. " " .. a .. " && ln -s " .. a .. " " .. b))
    assert.error_matches(function() ckpt.load(path) end,
      "its sidecar '.*' cannot be read %(EIO: stat: .*symbolic links")
    os.remove(a)
    os.remove(b)
    -- nor a link to nothing (it was taken for no sidecar, and the load went unverified)
    assert(os.execute("ln -s " .. b .. " " .. a))
    assert.error_matches(function() ckpt.load(path) end,
      "its sidecar '.*' cannot be read %(EIO: stat: '.*sha256' is a symbolic link to nothing%)")
    os.remove(a)
  end)

  it("refuses made-up counts, metadata of the wrong kind and malformed generator states", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "meta.safetensors")
    -- save refuses what load would: a file it writes is one load takes
    for _, case in ipairs({ { "epoch", "three", "epoch must be an integer >= 0, got three" },
      { "global_step", -1, "global_step must be an integer >= 0, got %-1" },
      { "class_path", 5, "class_path must be a string, got number" },
      { "metrics", { 1, 2 }, "metrics must be a table of name %-> value %(a JSON object%), got" },
      { "callbacks", 5, "callbacks must be a table of name %-> value %(a JSON object%), got 5" },
      { "loader", { "a" }, "loader must be a table of name %-> value" },
      { "rng", { trainer = "short" }, "rng.trainer must be a 16%-byte generator state" },
      { "rng", { trainer = 5 },
        "rng.trainer must be a 16%-byte generator state %(Generator:get_state%(%)%), got 5" },
      { "rng", "x", "rng must be a table of name %-> generator state" } }) do
      local c = contents(m, opt, sched)
      c[case[1]] = case[2]
      local ok, err = pcall(ckpt.save, path, c)
      assert.is_false(ok)
      assert.matches("ckpt.save: " .. case[3], err)
      assert.is_false(gio.exists(path))
    end
    ckpt.save(path, contents(m, opt, sched))
    local tensors, meta = gio.load_safetensors(path)
    local function with(key, value, tensor_name, tensor)
      local t2, m2 = {}, {}
      for k, v in pairs(tensors) do t2[k] = v end
      for k, v in pairs(meta) do m2[k] = v end
      if key then m2[key] = value end
      if tensor_name then t2[tensor_name] = tensor end
      local p = gio.join(dir, "edited.safetensors")
      os.remove(p .. ".sha256")
      assert(gio.save_safetensors(p, t2, m2)) -- another writer: no sidecar
      local ok, err = pcall(ckpt.load, p)
      assert.is_false(ok)
      return err
    end
    for _, v in ipairs({ "1.5", "-4", "0x10", "", "1e300" }) do
      local want = "metadata 'epoch' must be an integer >= 0, got '" .. v .. "'"
      assert.truthy(with("epoch", v):find(want, 1, true))
    end
    assert.truthy(with("global_step", ""):find("metadata 'global_step' must be an integer >= 0", 1, true))
    assert.truthy(with("graphids_format_version", "0.5"):find("'graphids_format_version' must be an integer",
      1, true))
    assert.truthy(with("hyper_parameters", "5"):find(
      "metadata 'hyper_parameters' must be a JSON object, got 5", 1, true))
    assert.truthy(with("trainer", "[1,2]"):find("metadata 'trainer' must be a JSON object", 1, true))
    -- a non-finite number's tag is an object only until it is read (then the section was a number)
    for _, k in ipairs({ "hyper_parameters", "metrics", "trainer" }) do
      assert.truthy(with(k, '{"$float":"nan"}'):find("metadata '" .. k .. "' must be a JSON object", 1, true))
    end
    assert.truthy(with("optimizer", '{"state":{"abc":{}}}'):find(
      "optimizer state: state key: 'abc' is no parameter index", 1, true))
    assert.truthy(with("optimizer", '5'):find("optimizer state: the metadata must be a JSON object", 1, true))
    assert.truthy(with(nil, nil, "optimizer.state.99999999999999999999.x", graphids.zeros(1)):find(
      "'99999999999999999999' is no parameter index", 1, true))
    -- "00" would be parameter 0 a second time: indexes are written as state_dict writes them
    assert.truthy(with(nil, nil, "optimizer.state.00.exp_avg", graphids.zeros(1)):find(
      "tensor 'optimizer.state.00.exp_avg': '00' is no parameter index", 1, true))
    assert.truthy(with("optimizer", (meta.optimizer:gsub('"state":{', '"state":{"00":{"step":9},', 1)))
      :find("state key: '00' is no parameter index", 1, true))
    -- optimizer tensors without the optimizer metadata they belong to are refused, not dropped
    assert.truthy(with("optimizer", nil, "optimizer.bogus", graphids.zeros(1)):find(
      "tensor 'optimizer.bogus' has no optimizer metadata to belong to", 1, true))
    -- among several stray tensors the first by name is named, on every load
    do
      local t2, m2 = {}, {}
      for k, v in pairs(tensors) do t2[k] = v end
      for k, v in pairs(meta) do m2[k] = v end
      for _, n in ipairs({ "zz", "junk", "ema.d", "y", "extra.b" }) do t2[n] = graphids.zeros(1) end
      local p = gio.join(dir, "strays.safetensors")
      assert(gio.save_safetensors(p, t2, m2))
      for _ = 1, 5 do
        local ok, e = pcall(ckpt.load, p)
        assert.is_false(ok)
        assert.truthy(tostring(e):find("tensor 'ema.d' belongs to no part", 1, true), e)
      end
    end
    -- an accumulated gradient names a parameter position as the optimizer state does
    for _, n in ipairs({ "00", "-1", "x", "99999999999999999999" }) do
      assert.truthy(with(nil, nil, "accumulated_grad." .. n, graphids.zeros(1)):find(
        "tensor 'accumulated_grad." .. n .. "' names no parameter position", 1, true), n)
    end
    -- the weights training continues from must mirror the model's
    assert.truthy(with(nil, nil, "current_model.fc1.weight", graphids.zeros(5, 5)):find(
      "tensor 'current_model.fc1.bias' is missing, expected [5] as in the other weights", 1, true))
    -- a tensor no part reads, and counts padded with zeros, are refused, not taken
    for _, name in ipairs({ "modle.weight", "junk", "model." }) do
      assert.truthy(with(nil, nil, name, graphids.zeros(1)):find("tensor '" .. name .. "' belongs to no " ..
        "part of a checkpoint", 1, true), name)
    end
    assert.truthy(with("epoch", "007"):find("metadata 'epoch' must be an integer >= 0, got '007'", 1, true))
    assert.truthy(with("graphids_format_version", "01"):find("'graphids_format_version' must be an " ..
      "integer >= 0, got '01'", 1, true))
    -- a state value given both as metadata and as a tensor
    assert.truthy(with("optimizer", (meta.optimizer:gsub('"step":', '"exp_avg":7,"step":', 1))):find(
      "tensor 'optimizer.state.0.exp_avg': parameter 0's 'exp_avg' is also in the metadata", 1, true))
    local err = with(nil, nil, "rng.trainer", graphids.tensor({ 1.5, 300 }))
    assert.truthy(err:find("tensor 'rng.trainer' must be a u8 [16] generator state, got f32 [2]", 1,
      true), err)
    err = with(nil, nil, "rng.trainer", graphids.zeros(3, { dtype = "u8" }))
    assert.truthy(err:find("tensor 'rng.trainer' must be a u8 [16] generator state, got u8 [3]", 1,
      true), err)
    -- null and [] are no objects (both decode to tables)
    for _, v in ipairs({ "null", "[]" }) do
      err = with("trainer", v)
      assert.truthy(err:find("metadata 'trainer' must be a JSON object, got " ..
        (v == "null" and "null" or "an array"), 1, true), err)
    end
    assert.truthy(with("metrics", "null"):find("metadata 'metrics' must be a JSON object", 1, true))
  end)

  it("refuses an entry named \"\" in save, which load could not read back", function()
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "empty_name.safetensors")
    local osd = opt:state_dict()
    osd.state[1][""] = graphids.ones({ 1 })
    for _, case in ipairs({ { "model", { [""] = graphids.ones({ 2 }) } },
      { "current_model", { [""] = graphids.ones({ 2 }) } },
      { "rng", { [""] = graphids.Generator(1):get_state() } },
      { "optimizer", osd, "optimizer.state.0" } }) do
      local c = contents(m, opt, sched)
      c[case[1]] = case[2]
      local ok, err = pcall(ckpt.save, path, c)
      assert.is_false(ok, case[1])
      local want = "ckpt.save: " .. (case[3] or case[1]) .. " has an entry named \"\""
      assert.truthy(err:find(want, 1, true), err)
      assert.is_false(gio.exists(path))
    end
  end)

  it("names a missing checkpoint and a directory", function()
    assert.error_matches(function() ckpt.load(gio.join(dir, "nope.safetensors")) end,
      "checkpoint '.*nope.safetensors' does not exist")
    assert.error_matches(function() ckpt.load(dir) end, "is not a regular file %(dir%)")
  end)

  it("shows no byte of a foreign file raw in its messages (control and C1 characters as \\xNN)", function()
    local function refusal(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.is_nil(err:find("[%c\128-\255]"), err) -- no raw control byte (nor any byte >= 0x80)
      return err
    end
    local function foreign(name, tensors, meta)
      local p = gio.join(dir, name)
      assert(graphids.save_safetensors(p, tensors, meta))
      return p
    end
    local one = graphids.ones({ 2 })
    local err = refusal(function() ckpt.load(foreign("e.safetensors", { ["w\27[2J"] = one })) end)
    assert.truthy(err:find("tensor 'w\\x1B[2J' belongs to no part", 1, true), err)
    err = refusal(function() ckpt.load(foreign("c1.safetensors", { ["w\u{9B}2J"] = one })) end)
    assert.truthy(err:find("tensor 'w\\xC2\\x9B2J' belongs to no part", 1, true), err)
    err = refusal(function()
      ckpt.load(foreign("n.safetensors", { ["model.w"] = one }, { epoch = "a\27b" }))
    end)
    assert.truthy(err:find("metadata 'epoch' must be an integer >= 0, got 'a\\x1Bb'", 1, true), err)
    err = refusal(function()
      ckpt.load(foreign("r.safetensors", { ["rng.\27x"] = one }))
    end)
    assert.truthy(err:find("tensor 'rng.\\x1Bx' must be a u8 [16]", 1, true), err)
    err = refusal(function()
      ckpt.load(foreign("g.safetensors", { ["accumulated_grad.\27"] = one }))
    end)
    assert.truthy(err:find("tensor 'accumulated_grad.\\x1B' names no parameter position", 1, true), err)
    err = refusal(function()
      ckpt.load(foreign("o.safetensors", { ["optimizer.\u{9B}"] = one }))
    end)
    assert.truthy(err:find("tensor 'optimizer.\\xC2\\x9B' has no optimizer metadata", 1, true), err)
    local p = foreign("s.safetensors", { ["model.w"] = one })
    proc.spit(p .. ".sha256", "not\27[2J a digest\n")
    err = refusal(function() ckpt.load(p) end)
    assert.truthy(err:find("line 'not\\x1B[2J a digest' is not a 64-digit", 1, true), err)
    -- a path given with control characters (or bytes that are not UTF-8) is named escaped too
    err = refusal(function() ckpt.load(gio.join(dir, "x\27[2J\255.safetensors")) end)
    assert.truthy(err:find("x\\x1B[2J\\xFF.safetensors' does not exist", 1, true), err)
  end)

  it("refuses a checkpoint of a newer format version", function()
    local path = gio.join(dir, "v.safetensors")
    assert(graphids.save_safetensors(path, { ["model.w"] = graphids.zeros(2) },
      { format = "pt", graphids_format_version = "99" }))
    assert.error_matches(function() ckpt.load(path) end, "format version 99; this runtime reads up to 1")
  end)

  it("removes only the leftovers of killed writers", function()
    for _, n in ipairs({ ".last.safetensors.pending", ".last.safetensors.tmp-123-4", "last.safetensors",
      "notes.tmp-1-2", ".keep" }) do
      proc.spit(gio.join(dir, n), "x")
    end
    assert.equal(2, ckpt.remove_stale(dir))
    assert.same({ ".keep", "last.safetensors", "notes.tmp-1-2" }, gio.list_dir(dir))
  end)

  it("removes a checkpoint with its sidecar, a sidecar left alone, and only the link of a link", function()
    local a, b = gio.join(dir, "a.safetensors"), gio.join(dir, "b.safetensors")
    ckpt.save(a, { model = { w = graphids.zeros(2) } })
    ckpt.save(b, { model = { w = graphids.ones(2) } })
    assert.is_true(ckpt.remove(a))
    assert.same({ "b.safetensors", "b.safetensors.sha256" }, gio.list_dir(dir))
    os.remove(b) -- (a kill between the two removals leaves the sidecar)
    assert.is_true(ckpt.remove(b))
    assert.same({}, gio.list_dir(dir))
    ckpt.save(a, { model = { w = graphids.zeros(2) } })
    local link = gio.join(dir, "link.safetensors")
    assert(os.execute("ln -s a.safetensors " .. proc.q(link)))
    assert.is_true(ckpt.remove(link))
    assert.same({ "a.safetensors", "a.safetensors.sha256" }, gio.list_dir(dir))
    assert.equal("verified", ckpt.load(a).sidecar)
  end)

  it("creates empty markers durably", function()
    local p = gio.join(dir, ".train_complete")
    ckpt.touch_marker(p)
    assert.equal("", proc.slurp(p))
    assert.same({ ".train_complete" }, gio.list_dir(dir))
    assert.error_matches(function() ckpt.touch_marker(gio.join(dir, "no/such/dir/.m")) end, "marker")
  end)

  describe("check_compat", function()
    it("passes a checkpoint of the same model and vocabulary", function()
      local m, opt, sched = model_and_opt()
      local path = gio.join(dir, "c.safetensors")
      ckpt.save(path, contents(m, opt, sched))
      local c = ckpt.check_compat(path, tiny.MLP { in_dim = 3, hidden = 5 })
      assert.equal(path, c.path)
    end)

    it("lists every mismatch with both values and the checkpoint path in one error", function()
      local m, opt, sched = model_and_opt()
      local path = gio.join(dir, "c.safetensors")
      local cc = contents(m, opt, sched)
      cc.hyper_parameters.vocab_digest = string.rep("a", 64)
      ckpt.save(path, cc)
      local other = tiny.MLP { in_dim = 3, hidden = 6, num_ids = 12, id_encoder_kwargs = { k = 2 },
        id_encoder_class_path = "graphids.models.id_encoder.HashIdEncoder" }
      rawset(other, "class_path", "spec.trainer.OtherMLP")
      local ok, err = pcall(ckpt.check_compat, path, other, { vocab_digest = string.rep("b", 64) })
      assert.is_false(ok)
      for _, pat in ipairs({
        "checkpoint '" .. path:gsub("%p", "%%%0") .. "' is not compatible",
        "class_path: checkpoint spec.trainer.TinyMLP, model spec.trainer.OtherMLP",
        "id_encoder_class_path: checkpoint graphids.models.id_encoder.LookupIdEncoder, " ..
          "model graphids.models.id_encoder.HashIdEncoder",
        'id_encoder_kwargs: checkpoint {}, model {"k":2}',
        "num_ids: checkpoint 10, model 12",
        "vocab_digest: checkpoint a+, model b+",
        "parameter fc1.weight: checkpoint %[5,3%], model %[6,3%]",
        "parameter fc1.bias: checkpoint %[5%]",
        "Re%-train or point at a compatible checkpoint",
      }) do
        assert.truthy(err:find(pat), "missing '" .. pat .. "' in:\n" .. err)
      end
    end)

    it("keeps a loaded hyper_parameters' empty lists: it re-encodes as saved", function()
      local json = require "graphids.json"
      local m = tiny.MLP { in_dim = 3, hidden = 5 }
      local hp = m:hparams()
      hp.id_encoder_kwargs = { dims = json.array(), k = 2, sizes = json.array({ 1, 2 }),
        nest = { a = json.array({ 1, json.array(), { b = json.array() } }), o = json.object(),
          p = { q = 1 } } }
      local path = gio.join(dir, "c.safetensors")
      ckpt.save(path, { model = m:state_dict(), class_path = m.class_path, hyper_parameters = hp })
      local loaded = ckpt.load(path).hyper_parameters
      assert.equal(json.encode(hp), json.encode(loaded))
      assert.equal('{"dims":[],"k":2,"nest":{"a":[1,[],{"b":[]}],"o":{},"p":{"q":1}},"sizes":[1,2]}',
        json.encode(loaded.id_encoder_kwargs))
      -- a config holding the same [] is compatible (it was reported as {} against [] before)
      local resolved = { rendered = { model = { class_path = m.class_path, init_args = hp } } }
      assert.equal(path, ckpt.check_compat(path, resolved).path)
    end)

    it("takes an empty list for an empty object, as a model's hyper-parameters hold both", function()
      local json = require "graphids.json"
      local m = tiny.MLP { in_dim = 3, hidden = 5 }
      local path = gio.join(dir, "c.safetensors")
      local function save(kwargs)
        local hp = m:hparams()
        hp.id_encoder_kwargs = kwargs
        ckpt.save(path, { model = m:state_dict(), class_path = m.class_path, hyper_parameters = hp })
      end
      local function config(kwargs)
        local hp = m:hparams()
        hp.id_encoder_kwargs = kwargs
        return { rendered = { model = { class_path = m.class_path, init_args = hp } } }
      end
      -- the trainer writes a model's plain {} where its config said []
      save({ dims = {}, k = 2 })
      ckpt.check_compat(path, config({ dims = json.array(), k = 2 }))
      -- and a model compared with a file that says []
      save({ dims = json.array(), k = 2 })
      local plain_model = tiny.MLP { in_dim = 3, hidden = 5, id_encoder_kwargs = { dims = {}, k = 2 } }
      ckpt.check_compat(path, plain_model)
      -- a list that differs is still a mismatch, shown as each side has it
      save({ dims = json.array(), k = 2 })
      local other = config({ dims = json.array({ 4 }), k = 2 })
      assert.error_matches(function() ckpt.check_compat(path, other) end,
        'id_encoder_kwargs: checkpoint {"dims":%[%],"k":2}, config {"dims":%[4%],"k":2}')
    end)

    it("refuses a vocabulary digest asked for that the checkpoint does not record", function()
      -- written without hyper-parameters (or with some, but no digest): nothing to compare the
      -- caller's digest with, so a pass would claim a match nothing showed
      local m, opt = model_and_opt()
      local bare = gio.join(dir, "bare.safetensors")
      ckpt.save(bare, { model = m:state_dict(), optimizer = opt:state_dict(), epoch = 3 })
      local nodigest = gio.join(dir, "nodigest.safetensors")
      ckpt.save(nodigest, { model = m:state_dict(), class_path = m.class_path,
        hyper_parameters = m:hparams() })
      local fresh = tiny.MLP { in_dim = 3, hidden = 5 }
      -- (the bare file records no hyper-parameters at all: the error says so)
      local notes = { [bare] = "The checkpoint records no hyper-parameters: only its shapes can be " ..
        "checked.\n", [nodigest] = "" }
      for _, path in ipairs({ bare, nodigest }) do
        local err = err_of(ckpt.check_compat, path, fresh, { vocab_digest = "abc" })
        assert.equal(string.format("checkpoint '%s' is not compatible with the model spec.trainer.TinyMLP " ..
          "(1 mismatch):\n  vocab_digest: the checkpoint records none, the caller expects abc; it cannot " ..
          "be shown to hold the same vocabulary\n%sRe-train or point at a compatible checkpoint.", path,
          notes[path]), err)
        -- asked for nothing, it compares nothing (the rest of the guard still runs)
        assert.equal(path, ckpt.check_compat(path, fresh).path)
      end
      -- a target whose hyper-parameters carry the digest expects it just the same
      local withd = tiny.MLP { in_dim = 3, hidden = 5 }
      local hparams = withd.hparams
      rawset(withd, "hparams", function(self)
        local hp = hparams(self)
        hp.vocab_digest = "abc"
        return hp
      end)
      assert.matches("vocab_digest: the checkpoint records none, model expects abc",
        err_of(ckpt.check_compat, nodigest, withd))
    end)

    it("says a checkpoint records no hyper-parameters rather than comparing defaults", function()
      -- a GAT's weights alone (another writer's file): its encoder and num_ids are unknown, not
      -- the defaults; they were reported as mismatches against a config that differs from them
      local models = require "graphids.models"
      local hp = models.presets.gat.small({ num_ids = 6,
        id_encoder_class_path = "graphids.models.id_encoder.HashIdEncoder",
        id_encoder_kwargs = { seed = 7 } })
      local m = models.GATClassifier(hp)
      local path = gio.join(dir, "weights.safetensors")
      ckpt.save(path, { model = m:state_dict(), class_path = m.class_path })
      local function config(h)
        return { rendered = { model = { class_path = m.class_path, init_args = h } } }
      end
      -- the same shapes: nothing else can be compared, so it passes
      assert.equal(path, ckpt.check_compat(path, config(hp)).path)
      assert.equal(path, ckpt.check_compat(path, m).path)
      -- other shapes: those are listed, with one line on what could not be checked
      local wide = models.presets.gat.small({ num_ids = 9,
        id_encoder_class_path = "graphids.models.id_encoder.HashIdEncoder",
        id_encoder_kwargs = { seed = 7 } })
      local err = err_of(ckpt.check_compat, path, config(wide))
      assert.truthy(err:find("parameter input_encoder.id_encoder.embedding.weight: checkpoint [32,8], " ..
        "config [64,8]", 1, true), err)
      assert.truthy(err:find("\nThe checkpoint records no hyper-parameters: only its class and shapes can " ..
        "be checked.\nRe-train or point at a compatible checkpoint.", 1, true), err)
      for _, word in ipairs({ "id_encoder_class_path:", "id_encoder_kwargs:", "num_ids:" }) do
        assert.falsy(err:find(word, 1, true), err)
      end
      -- a checkpoint with hyper-parameters gets no such line
      local full = gio.join(dir, "full.safetensors")
      ckpt.save(full, { model = m:state_dict(), class_path = m.class_path, hyper_parameters = m:hparams() })
      err = err_of(ckpt.check_compat, full, config(wide))
      assert.truthy(err:find("num_ids: checkpoint 6, config 9", 1, true), err)
      assert.falsy(err:find("records no hyper-parameters", 1, true), err)
    end)

    it("checks a resolved config's model section (shapes when it can be built)", function()
      local m, opt, sched = model_and_opt()
      local path = gio.join(dir, "c.safetensors")
      ckpt.save(path, contents(m, opt, sched))
      local resolved = { rendered = { model = { class_path = "graphids.models.GATClassifier",
        init_args = { num_ids = 10 } } } }
      assert.error_matches(function() ckpt.check_compat(path, resolved) end,
        "class_path: checkpoint spec.trainer.TinyMLP, config graphids.models.GATClassifier")
    end)
  end)

  it("writes files Python's safetensors package reads (tensors and metadata)", function()
    -- The peer venv's python directly (tools/peer-venv.sh imports torch to check it: slow).
    local venv = os.getenv("GRAPHIDS_PEER_VENV") or (os.getenv("HOME") .. "/.cache/graphids-peer")
    local py = venv .. "/bin/python"
    if skip.unless(os.execute(proc.q(py) .. " -c 'import safetensors, numpy' 2>/dev/null") == true,
      "the peer venv (" .. venv .. ") with Python safetensors and numpy is not available") then
      return
    end
    local m, opt, sched = model_and_opt()
    local path = gio.join(dir, "c.safetensors")
    ckpt.save(path, contents(m, opt, sched))
    local script = gio.join(dir, "read.py")
    proc.spit(script, table.concat({
      "import sys, json",
      "from safetensors import safe_open",
      "with safe_open(sys.argv[1], 'np') as f:",
      "    md = f.metadata()",
      "    w = f.get_tensor('model.fc1.weight')",
      "    print(md['format'], md['epoch'], json.loads(md['hyper_parameters'])['hidden'], list(w.shape),",
      "          '%.6f' % float(w.astype('float64').sum()), len(list(f.keys())))",
    }, "\n"))
    local p = io.popen(proc.q(py) .. " " .. proc.q(script) .. " " .. proc.q(path))
    local out = p:read("a")
    p:close()
    local want = string.format("pt 4 5 [5, 3] %.6f %d", m.fc1.weight:to("f64"):sum():item(),
      (function()
        local n = 0
        for _ in pairs(ckpt.load(path).tensors) do n = n + 1 end
        return n
      end)())
    assert.equal(want, out:gsub("\n$", ""))
  end)
end)
