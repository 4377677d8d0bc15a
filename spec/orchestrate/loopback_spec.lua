-- loopback_spec.lua -- device paths on the loopback device (runtime/src/loopback/: "cuda:0" whose
-- ops run the CPU ops), in a child host started with GIDS_CUDA_PLUGIN pointing at it (the
-- plugin is loaded once per process, so this process cannot switch to it):
--   norm of every order (and its backward) and clip_grad_norm_ on device tensors, against the
--   CPU; graphids.equal / allclose and < / <= of device tensors (results in device memory);
--   the stage verbs on the trainer's device: a GAT fit (gradient clipping, the train/val
--   prediction sidecars) and test, a VGAE and a DGI fit and test (their calibration on the
--   benign training graphs after fit and after the checkpoint's load); Trainer:predict of a CPU
--   model on a device trainer; the fusion states extracted on the device (as on the CPU) and
--   every fusion method fitted and tested there.
local gio = require "graphids.io"
local proc = require "trainer.support.proc"
local skip = require "skip"
local tiny = require "orchestrate.support.tiny"
local json = require "graphids.json"

local plugin = proc.build_path("lib/graphids_loopback.so")

if skip.unless(gio.exists(plugin), "loopback_spec: " .. plugin .. " is not built") then
  return
end

-- Runs the Lua source `src` in a child host on the loopback device with the arguments args;
-- returns its output (stdout and stderr) and exit code.
local function on_loopback(dir, src, args)
  local script = gio.join(dir, "script.lua")
  proc.spit(script, src)
  local w = { proc.q(proc.host), "run", proc.q(script) }
  for _, a in ipairs(args or {}) do w[#w + 1] = proc.q(a) end
  local p = io.popen(("cd %s && GIDS_CUDA_PLUGIN=%s OMP_WAIT_POLICY=PASSIVE %s 2>&1; echo \"rc=$?\"")
    :format(proc.q(proc.cwd), proc.q(plugin), table.concat(w, " ")))
  local out = p:read("a")
  p:close()
  local rc = tonumber(out:match("rc=(%d+)\n$"))
  return (out:gsub("rc=%d+\n$", "")), rc
end

local OPS = [[
local graphids = require "graphids"
local optim = require "graphids.optim"
assert(graphids.gpu.is_available(), "the loopback device is not available")
local g = graphids.Generator(7)
local x = graphids.randn({ 5, 6 }, { generator = g })
x = graphids.where(x:abs():lt(0.5), 0, x) -- zeros for p = 0 to count
local dx = x:cuda()
local function close(name, d, c)
  assert(d.device == "cuda:0", name .. ": result on " .. d.device)
  local h = d:cpu()
  assert(graphids.allclose(h, c, { rtol = 1e-5, atol = 1e-6 }),
    name .. ": device " .. tostring(h) .. " vs CPU " .. tostring(c))
end
for _, p in ipairs({ 0, 1, 2, 3, 0.5, math.huge, -math.huge }) do
  close("norm p=" .. p, dx:norm(p), x:norm(p))
  close("norm p=" .. p .. " dim 2", dx:norm(p, 2), x:norm(p, 2))
  close("norm p=" .. p .. " dim 1 keepdim", dx:norm(p, 1, { keepdim = true }),
    x:norm(p, 1, { keepdim = true }))
end
-- norm's backward on the device
for _, p in ipairs({ 1, 2, 3, math.huge }) do
  local xc, xd = x:clone():requires_grad_(), x:cuda():requires_grad_()
  xc:norm(p, 2):sum():backward()
  xd:norm(p, 2):sum():backward()
  close("norm p=" .. p .. " backward", xd.grad, xc.grad)
end
local ok, err = pcall(function() return dx:int():norm(2) end)
assert(not ok and tostring(err):find("norm: input must be a float tensor", 1, true), tostring(err))
-- clip_grad_norm_ (the recipes' gradient_clip_val) on device parameters
for _, nt in ipairs({ 2, math.huge }) do
  local pc, pd = {}, {}
  for i, shape in ipairs({ { 4, 3 }, { 3 } }) do
    local w = graphids.randn(shape, { generator = g })
    pc[i] = w:clone():requires_grad_()
    pd[i] = w:cuda():requires_grad_()
    local gr = graphids.randn(shape, { generator = g }):mul(3)
    pc[i].grad, pd[i].grad = gr:clone(), gr:cuda()
  end
  close("clip_grad_norm_ total " .. nt, optim.clip_grad_norm_(pd, 1.0, { norm_type = nt }),
    optim.clip_grad_norm_(pc, 1.0, { norm_type = nt }))
  for i = 1, 2 do close("clipped grad " .. i, pd[i].grad, pc[i].grad) end
end
-- equal / allclose read their 0-d device result through a CPU copy
local a = graphids.tensor({ 1, 2, 3 }, { device = "cuda" })
assert(graphids.equal(a, a:clone()) == true, "equal of equal device tensors")
assert(graphids.equal(a, a + 1) == false, "equal of different device tensors")
assert(graphids.allclose(a, a + 1e-7) == true, "allclose of close device tensors")
assert(graphids.allclose(a, a + 1) == false, "allclose of distant device tensors")
local nan = graphids.tensor({ 0 / 0, 1 }, { device = "cuda" })
assert(graphids.allclose(nan, nan, { equal_nan = true }) == true, "allclose equal_nan")
assert(graphids.allclose(nan, nan) == false, "allclose NaN")
-- < and <= of one-element device tensors (and numbers)
local one, two = graphids.tensor(1, { device = "cuda" }), graphids.tensor({ 2 }, { device = "cuda" })
assert(one < two and one <= 1 and not (two < one) and 1.5 < two, "ordering of device tensors")
print("ops ok")
]]

-- arg[1]: the lake, arg[2]: the stage, arg[3]: the --set pairs as JSON.
local STAGE = [[
local config = require "graphids.config"
local json = require "graphids.json"
local stage = require "graphids.orchestrate.stage"
local set = json.decode(arg[3])
set[#set + 1] = { "trainer.device", "cuda" }
local r = config.resolve("recipes/stages/" .. arg[2] .. ".lua", { tla = { lake_root = arg[1] }, set = set })
config.write_run_files(r)
local best = stage.train(stage.build(r), r)
assert(best ~= nil, "no best checkpoint")
-- a fresh build, as `graphids test`: the weights (and calibration) come from the checkpoint
local m = stage.evaluate(stage.build(r), r)
local keys = {}
for k, v in pairs(m) do
  if type(v) == "number" and k:match("^test/[^/]+$") then keys[#keys + 1] = k end
end
table.sort(keys)
assert(#keys > 0, "no pooled test metrics")
print(arg[2] .. " ok " .. table.concat(keys, ","))
]]

-- Trainer:predict with a CPU model and a device trainer: the model goes to the device first
-- (as fit and test move it), and the outputs come back to the CPU equal to a CPU trainer's.
-- arg[1]: the lake, arg[2]: the --set pairs as JSON.
local PREDICT = [[
local graphids = require "graphids"
local config = require "graphids.config"
local json = require "graphids.json"
local stage = require "graphids.orchestrate.stage"
local Trainer = require("graphids.trainer").Trainer
local r = config.resolve("recipes/stages/gat.lua",
  { tla = { lake_root = arg[1] }, set = json.decode(arg[2]) })
local a = stage.build(r)
local dm = a.datamodule
if dm.setup then dm:setup() end
local want = Trainer({ progress = "off" }):predict(a.model, dm:val_loader())
local got = Trainer({ progress = "off", device = "cuda" }):predict(a.model, dm:val_loader())
for _, p in ipairs(a.model:parameters()) do
  assert(p.device == "cuda:0", "a parameter on " .. p.device)
end
assert(got.scores.device == "cpu", "scores on " .. got.scores.device)
assert(graphids.allclose(got.scores, want.scores, { rtol = 1e-5, atol = 1e-6 }), "device scores differ")
assert(graphids.equal(got.window_start, want.window_start), "window starts differ")
print("predict ok " .. got.scores:numel())
]]

-- The extract stage and every fusion method on the device: a GAT and a VGAE fitted on the CPU,
-- their fusion states extracted on the CPU and on the device (the same states), then each fusion
-- method fitted and tested with --tla device=cuda (the pipeline's way to run on a GPU).
-- arg[1]: the lake, arg[2]: the GAT's --set pairs, arg[3]: the VGAE's, arg[4]: the data keys
-- of the extract spec, all as JSON.
local FUSION = [[
local graphids = require "graphids"
local config = require "graphids.config"
local json = require "graphids.json"
local gio = require "graphids.io"
local stage = require "graphids.orchestrate.stage"
local fs = require "graphids.orchestrate.fusion_states"
local lake = arg[1]
local function fit(name, set)
  local r = config.resolve("recipes/stages/" .. name .. ".lua", { tla = { lake_root = lake }, set = set })
  stage.train(stage.build(r), r)
  return r.ckpt_file
end
local gat, vgae = fit("gat", json.decode(arg[2])), fit("vgae", json.decode(arg[3]))
local states = {}
for _, device in ipairs({ "cpu", "cuda" }) do
  local spec = fs.resolve("recipes/stages/fusion_states.lua",
    { lake_root = lake, vgae_ckpt = vgae, gat_ckpt = gat, device = device })
  config.apply_overrides(spec, json.decode(arg[4]))
  spec.out_dir = gio.join(lake, "states_" .. device)
  fs.extract(spec)
  states[device] = spec.out_dir
end
for _, file in ipairs({ "train", "val" }) do
  local c = assert(gio.load_safetensors(gio.join(states.cpu, file .. ".safetensors")))
  local d = assert(gio.load_safetensors(gio.join(states.cuda, file .. ".safetensors")))
  assert(d.states.device == "cpu", "saved states on " .. d.states.device)
  assert(graphids.allclose(d.states, c.states, { rtol = 1e-4, atol = 1e-5 }),
    file .. ": device states differ from the CPU's")
  assert(graphids.equal(d.labels, c.labels) and graphids.equal(d.id_view, c.id_view), file .. " labels")
end
for _, method in ipairs({ "weighted_avg", "bandit", "mlp", "dqn" }) do
  local r = config.resolve("recipes/stages/fusion.lua", {
    tla = { lake_root = lake, states_dir = states.cuda, method = method, device = "cuda" },
    set = { { "trainer.max_epochs", 1 }, { "trainer.progress", "off" } } })
  assert(r.validated.trainer.device == "cuda", "the device TLA did not reach the trainer")
  local run = stage.build(r)
  stage.train(run, r)
  local m = stage.evaluate(run, r)
  assert(type(m["test/accuracy"]) == "number", method .. ": no pooled test accuracy")
  print(method .. " ok " .. m["test/accuracy"])
end
]]

describe("the loopback device", function()
  local tmp
  setup(function() tmp = proc.tmpdir() end)
  teardown(function() proc.rmtree(tmp) end)

  it("runs norm, clip_grad_norm_, equal, allclose, < and <= on device tensors as on the CPU", function()
    local out, rc = on_loopback(tmp, OPS)
    assert.equal(0, rc, out)
    assert.truthy(out:find("ops ok", 1, true), out)
  end)

  it("predicts with a CPU model on a device trainer, moving the model as fit and test do", function()
    local set = tiny.set("gat", {})
    local out, rc = on_loopback(tmp, PREDICT, { gio.join(tmp, "lake_predict"), json.encode(set) })
    assert.equal(0, rc, out)
    assert.truthy(out:find("predict ok %d+"), out)
  end)

  it("extracts fusion states and fits every fusion method with --tla device=cuda", function()
    local data = tiny.data_sets()
    local one = { { "trainer.max_epochs", 1 } }
    local out, rc = on_loopback(tmp, FUSION, { gio.join(tmp, "lake_fusion"),
      json.encode(tiny.set("gat", one)), json.encode(tiny.set("vgae", one)), json.encode(data) })
    assert.equal(0, rc, out)
    for _, method in ipairs({ "weighted_avg", "bandit", "mlp", "dqn" }) do
      assert.truthy(out:find(method .. " ok %d"), out)
    end
  end)

  for _, case in ipairs({ { "gat", "gat" }, { "vgae", "vgae" }, { "dgi", "vgae" } }) do
    local name, family = case[1], case[2]
    it("fits and tests the " .. name .. " stage with trainer.device = cuda", function()
      local set = tiny.set(family, { { "trainer.max_epochs", 1 } })
      local lake = gio.join(tmp, "lake")
      local out, rc = on_loopback(tmp, STAGE, { lake, name, json.encode(set) })
      assert.equal(0, rc, out)
      assert.truthy(out:find(name .. " ok test/", 1, true), out)
    end)
  end
end)
