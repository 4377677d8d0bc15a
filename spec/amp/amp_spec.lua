-- amp_spec.lua -- mixed precision on the CPU side: the autocast state (nesting, restore on
-- error, the CPU no-op), graphids.amp.GradScaler (growth, backoff, skipped steps on inf/NaN,
-- unscale_, call-order errors, state through a checkpoint), the trainer's precision option and
-- its configuration key; on the loopback device, a checkpoint taken inside a group of
-- accumulated batches under "16-mixed" and resumed under each precision.  The GPU half is
-- spec/gpu/amp_check.lua.
local graphids = require "graphids"
local amp = require "graphids.amp"
local ckpt = require "graphids.ckpt"
local config = require "graphids.config"
local optim = require "graphids.optim"
local T = require "graphids.trainer"
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local skip = require "skip"
local lb = require "loopback"

-- A parameter with a gradient set by hand, and an SGD optimizer over it.
local function param_with_grad(values, grad)
  local p = graphids.tensor(values, { dtype = "f32", requires_grad = true })
  p.grad = graphids.tensor(grad, { dtype = "f32" })
  return p, optim.SGD({ p }, { lr = 1.0 })
end

describe("graphids.autocast", function()
  it("is off by default, on inside the region, and restored after it", function()
    assert.is_false(graphids.is_autocast_enabled())
    assert.is_nil(graphids.autocast_dtype())
    local a, b, c = graphids.autocast("bf16", function(x, y)
      return graphids.is_autocast_enabled(), graphids.autocast_dtype(), x + y
    end, 2, 3)
    assert.same({ true, "bf16", 5 }, { a, b, c })
    assert.is_false(graphids.is_autocast_enabled())
    -- the PyTorch spellings parse too
    assert.equal("f16", graphids.autocast("float16", graphids.autocast_dtype))
    assert.equal("bf16", graphids.autocast("bfloat16", graphids.autocast_dtype))
  end)

  it("nests: the inner dtype wins inside, the outer one comes back, f32 turns it off", function()
    local seen = {}
    graphids.autocast("f16", function()
      seen[#seen + 1] = graphids.autocast_dtype()
      graphids.autocast("bf16", function() seen[#seen + 1] = graphids.autocast_dtype() end)
      seen[#seen + 1] = graphids.autocast_dtype()
      graphids.autocast("f32", function() seen[#seen + 1] = tostring(graphids.autocast_dtype()) end)
      seen[#seen + 1] = graphids.autocast_dtype()
    end)
    assert.same({ "f16", "bf16", "f16", "nil", "f16" }, seen)
    assert.is_false(graphids.is_autocast_enabled())
  end)

  it("restores the previous state when fn errors, and re-raises the error value unchanged", function()
    local e = { code = 7 }
    local ok, err = pcall(graphids.autocast, "bf16", function() error(e) end)
    assert.is_false(ok)
    assert.equal(e, err) -- the same table, not a string
    assert.is_false(graphids.is_autocast_enabled())
    -- an error in an inner region restores the outer one
    graphids.autocast("f16", function()
      local ok2, err2 = pcall(graphids.autocast, "bf16", function() error("inner", 0) end)
      assert.is_false(ok2)
      assert.equal("inner", err2)
      assert.equal("f16", graphids.autocast_dtype())
    end)
    assert.is_false(graphids.is_autocast_enabled())
  end)

  it("rejects a dtype that is not a float type to lower to, and a missing function", function()
    assert.has_error(function() graphids.autocast("i64", function() end) end,
      'autocast: dtype i64, expected "f16" or "bf16" (or "f32": off)')
    assert.has_error(function() graphids.autocast("f64", function() end) end)
    assert.has_error(function() graphids.autocast("bf17", function() end) end)
    assert.has_error(function() graphids.autocast("bf16") end)
    assert.has_error(function() graphids.autocast("bf16", 3) end)
    assert.is_false(graphids.is_autocast_enabled())
  end)

  it("is a no-op on the CPU: the same bits, dtype and gradients as without it", function()
    local g = graphids.Generator(5)
    local x = graphids.randn(6, 4, { generator = g })
    local w = graphids.randn(3, 4, { generator = g, requires_grad = true })
    local b = graphids.randn(3, { generator = g, requires_grad = true })
    local x3 = graphids.randn(2, 6, 4, { generator = g })
    local function run()
      local y = graphids.addmm(b, x, w:t())
      local z = graphids.matmul(x3, w:t())
      local v = graphids.bmm(x3, x3:transpose(2, 3))
      local s = y:sum() + z:sum() + v:sum() + graphids.mm(x, w:t()):sum()
      s:backward()
      local gw, gb = w.grad:clone(), b.grad:clone()
      w.grad, b.grad = nil, nil
      return y, gw, gb
    end
    local y0, gw0, gb0 = run()
    local y1, gw1, gb1 = graphids.autocast("bf16", run)
    assert.equal("f32", y1.dtype)
    assert.is_true(graphids.equal(y0, y1))
    assert.is_true(graphids.equal(gw0, gw1))
    assert.is_true(graphids.equal(gb0, gb1))
  end)
end)

describe("graphids.amp.GradScaler", function()
  it("is reachable as graphids.amp (loaded on first use)", function()
    assert.equal(amp, graphids.amp)
    assert.equal(amp.GradScaler, graphids.amp.GradScaler)
  end)

  it("has torch's defaults and scales the loss", function()
    local s = amp.GradScaler()
    assert.equal(65536.0, s:get_scale())
    assert.equal(0, s:get_growth_tracker())
    assert.is_true(s:is_enabled())
    local loss = graphids.tensor(1.5)
    assert.equal(1.5 * 65536, s:scale(loss):item())
    assert.same({ scale = 65536.0, growth_factor = 2.0, backoff_factor = 0.5, growth_interval = 2000,
      _growth_tracker = 0 }, s:state_dict())
  end)

  it("unscales the gradients and steps when they are finite", function()
    local s = amp.GradScaler { init_scale = 8 }
    local p, opt = param_with_grad({ 1, 2 }, { 8, -16 })
    s:unscale_(opt)
    assert.same({ 1, -2 }, p.grad:totable())
    assert.is_false(s:found_inf(opt))
    s:step(opt) -- lr 1: p - grad
    assert.same({ 0, 4 }, p:detach():totable())
    s:update()
    assert.equal(8, s:get_scale())
    assert.equal(1, s:get_growth_tracker())
  end)

  it("grows the scale after growth_interval clean steps in a row", function()
    local s = amp.GradScaler { init_scale = 4, growth_interval = 3, growth_factor = 4 }
    local scales = {}
    for _ = 1, 7 do
      local _, opt = param_with_grad({ 0 }, { 1 })
      s:step(opt) -- unscales itself
      s:update()
      scales[#scales + 1] = s:get_scale()
    end
    assert.same({ 4, 4, 16, 16, 16, 64, 64 }, scales)
    assert.equal(1, s:get_growth_tracker())
  end)

  for _, bad in ipairs({ { "inf", math.huge }, { "-inf", -math.huge }, { "NaN", 0 / 0 } }) do
    it("skips the step and backs off when a gradient holds " .. bad[1], function()
      local s = amp.GradScaler { init_scale = 1024, growth_interval = 2 }
      -- one clean step first: the growth tracker must be reset by the bad one
      local _, opt0 = param_with_grad({ 0 }, { 1 })
      s:step(opt0)
      s:update()
      assert.equal(1, s:get_growth_tracker())
      local p, opt = param_with_grad({ 1, 2, 3 }, { 1, bad[2], 1 })
      local ret = s:step(opt)
      assert.is_nil(ret)
      assert.is_true(s:found_inf(opt))
      assert.same({ 1, 2, 3 }, p:detach():totable()) -- not stepped
      s:update()
      assert.equal(512, s:get_scale())
      assert.equal(0, s:get_growth_tracker())
    end)
  end

  it("finds an inf in any parameter of any group; a grad-less parameter is skipped", function()
    local s = amp.GradScaler { init_scale = 2 }
    local f = { dtype = "f32", requires_grad = true }
    local a, b, c = graphids.tensor({ 1 }, f), graphids.tensor({ 1 }, f), graphids.tensor({ 1 }, f)
    a.grad, c.grad = graphids.tensor({ 2.0 }), graphids.tensor({ math.huge })
    local opt = optim.SGD({ { params = { a, b } }, { params = { c } } }, { lr = 1 })
    s:step(opt)
    assert.is_true(s:found_inf(opt))
    assert.same({ 1 }, a:detach():totable())
    s:update()
    assert.equal(1, s:get_scale())
  end)

  it("keeps the scale in f32, as torch's scale tensor: a grown scale past its range is not taken", function()
    local s = amp.GradScaler { init_scale = 2 ^ 127, growth_interval = 1 }
    local _, opt = param_with_grad({ 0 }, { 0 })
    s:step(opt)
    s:update()
    assert.equal(2 ^ 127, s:get_scale()) -- 2^128 is inf in f32 (torch: 1.7014118346046923e+38)
    assert.equal(0, s:get_growth_tracker())
    -- backing off below f32's smallest subnormal reaches 0, as torch's
    local tiny_scale = amp.GradScaler { init_scale = 2 ^ -148 }
    for _ = 1, 2 do
      local _, o = param_with_grad({ 0 }, { 0 / 0 })
      tiny_scale:step(o)
      tiny_scale:update()
    end
    assert.equal(0, tiny_scale:get_scale())
    -- a scale that is no f32 is rounded to one, at construction, in update() and at load
    local odd = amp.GradScaler { init_scale = 0.1 }
    assert.equal(string.unpack("f", string.pack("f", 0.1)), odd:get_scale())
    odd:update(1 / 3)
    assert.equal(string.unpack("f", string.pack("f", 1 / 3)), odd:get_scale())
    -- one that f32 cannot hold is refused: inf would skip every step for good, 0 scale every
    -- gradient away (backing off to 0, as above, stays torch's)
    local past = "1e+39 is past f32's range (the scale is an f32: at most 3.4028234663852886e+38)"
    assert.has_error(function() amp.GradScaler { init_scale = 1e39 } end, "GradScaler: init_scale " .. past)
    assert.has_error(function() amp.GradScaler { init_scale = 1e-50 } end, "GradScaler: init_scale 1e-50 " ..
      "rounds to 0 in f32 (the scale is an f32: at least 1.4012984643248171e-45)")
    assert.has_error(function() odd:update(1e39) end, "GradScaler: new_scale " .. past)
    local sd = odd:state_dict()
    sd.scale = 1e39
    assert.has_error(function() odd:load_state_dict(sd) end, "GradScaler:load_state_dict: 'scale' " .. past)
    assert.equal(string.unpack("f", string.pack("f", 1 / 3)), odd:get_scale())
    assert.equal(2 ^ -149, amp.GradScaler({ init_scale = 2 ^ -149 }):get_scale())
  end)

  it("refuses step and update of an optimizer none of whose parameters has a gradient, as torch", function()
    local s = amp.GradScaler()
    local p = graphids.tensor({ 1 }, { dtype = "f32", requires_grad = true })
    local opt = optim.SGD({ p }, { lr = 1.0 })
    assert.has_error(function() s:step(opt) end, "GradScaler:step: no inf checks were recorded for this " ..
      "optimizer (none of its parameters has a gradient)")
    assert.equal(1, p:item())
    -- nor does its unscale_ alone make an iteration that update() counts (it would grow the scale)
    local g = amp.GradScaler { growth_interval = 1 }
    g:unscale_(opt)
    assert.has_error(function() g:update() end, "GradScaler:update: no inf checks were recorded before " ..
      "update() (call step() or unscale_() first, on an optimizer whose parameters have gradients)")
    assert.equal(65536, g:get_scale())
    assert.equal(0, g:get_growth_tracker())
  end)

  it("names the caller's line for a bad value, and a string as a string", function()
    local ok, err = pcall(function()
      local s = amp.GradScaler { init_scale = 0 } -- (not a tail call: its line is the one named)
      return s
    end)
    assert.is_false(ok)
    assert.matches("^[^:]*amp_spec%.lua:%d+: GradScaler: init_scale must be a finite number > 0, got 0$", err)
    local sc = amp.GradScaler()
    assert.has_error(function() sc:update("8") end,
      "GradScaler: new_scale must be a finite number > 0, got '8' (a string)")
  end)

  it("refuses calls out of order, as torch", function()
    local s = amp.GradScaler()
    local _, opt = param_with_grad({ 0 }, { 1 })
    assert.has_error(function() s:update() end,
      "GradScaler:update: no inf checks were recorded before update() (call step() or unscale_() first, " ..
      "on an optimizer whose parameters have gradients)")
    s:unscale_(opt)
    assert.has_error(function() s:unscale_(opt) end,
      "GradScaler:unscale_: already called on this optimizer since the last update()")
    s:step(opt)
    assert.has_error(function() s:step(opt) end,
      "GradScaler:step: already called on this optimizer since the last update()")
    assert.has_error(function() s:unscale_(opt) end,
      "GradScaler:unscale_: called after step() (call update() first)")
    s:update()
    s:unscale_(opt) -- a new iteration
    assert.has_error(function() s:step({}) end)
    assert.has_error(function() s:scale(3) end, "GradScaler:scale: expected a loss tensor, got number")
  end)

  it("validates its options", function()
    assert.has_error(function() amp.GradScaler { init_scal = 1 } end)
    assert.has_error(function() amp.GradScaler { init_scale = 0 } end,
      "GradScaler: init_scale must be a finite number > 0, got 0")
    assert.has_error(function() amp.GradScaler { growth_factor = 1 } end,
      "GradScaler: growth_factor must be > 1, got 1")
    assert.has_error(function() amp.GradScaler { backoff_factor = 1.5 } end,
      "GradScaler: backoff_factor must be < 1, got 1.5")
    assert.has_error(function() amp.GradScaler { growth_interval = 0 } end,
      "GradScaler: growth_interval must be an integer >= 1, got 0")
    assert.has_error(function() amp.GradScaler { backoff_factor = 0 / 0 } end)
  end)

  it("passes everything through when disabled", function()
    local s = amp.GradScaler { enabled = false }
    local loss = graphids.tensor(2.0)
    assert.equal(loss, s:scale(loss))
    assert.equal(1.0, s:get_scale())
    local p, opt = param_with_grad({ 1 }, { math.huge })
    s:unscale_(opt)
    assert.same({ math.huge }, p.grad:totable()) -- untouched
    p.grad = graphids.tensor({ 0.5 }, { dtype = "f32" })
    s:step(opt) -- steps whatever the gradients
    assert.same({ 0.5 }, p:detach():totable())
    s:update()
    assert.same({}, s:state_dict())
  end)

  it("keeps its state through a checkpoint and a fresh scaler", function()
    local dir = proc.tmpdir()
    local s = amp.GradScaler { init_scale = 3.0, growth_interval = 5 }
    for i = 1, 3 do
      local _, opt = param_with_grad({ 0 }, { i == 2 and math.huge or 1 })
      s:step(opt)
      s:update()
    end
    assert.equal(1.5, s:get_scale())
    assert.equal(1, s:get_growth_tracker())
    local m = tiny.MLP { in_dim = 2, hidden = 2, seed = 1 }
    local path = dir .. "/s.safetensors"
    ckpt.save(path, { model = m:state_dict(), trainer = { scaler = s:state_dict() } })
    local c = ckpt.load(path)
    local r = amp.GradScaler()
    r:load_state_dict(c.trainer.scaler)
    assert.same(s:state_dict(), r:state_dict())
    assert.equal("float", math.type(r:get_scale()))
    -- the restored scaler continues exactly as the original
    for _ = 1, 4 do
      for _, x in ipairs({ s, r }) do
        local _, opt = param_with_grad({ 0 }, { 1 })
        x:step(opt)
        x:update()
      end
    end
    assert.same(s:state_dict(), r:state_dict())
    assert.equal(3.0, r:get_scale())
    proc.rmtree(dir)
  end)

  it("rejects a bad state dict and ignores one when disabled", function()
    local s = amp.GradScaler()
    assert.has_error(function() s:load_state_dict({}) end,
      "GradScaler:load_state_dict: the state dict is empty, possibly saved from a disabled GradScaler")
    local sd = s:state_dict()
    sd.extra = 1
    assert.has_error(function() s:load_state_dict(sd) end)
    sd.extra = nil
    sd.scale = "x"
    assert.has_error(function() s:load_state_dict(sd) end,
      "GradScaler:load_state_dict: 'scale' must be a number, got 'x' (a string)")
    sd.scale = 1
    for _, case in ipairs({ { "growth_interval", 0.5, "'growth_interval' must be an integer >= 1, got 0.5" },
      { "_growth_tracker", -1, "'_growth_tracker' must be an integer >= 0, got -1" },
      { "growth_factor", 1, "'growth_factor' must be a finite number > 1, got 1" },
      { "backoff_factor", 1.5, "'backoff_factor' must be between 0 and 1, got 1.5" },
      { "scale", 0 / 0, "'scale' must be a finite number > 0, got nan" } }) do
      local bad = s:state_dict()
      bad[case[1]] = case[2]
      assert.has_error(function() s:load_state_dict(bad) end, "GradScaler:load_state_dict: " .. case[3])
      assert.equal(case[3], amp.GradScaler.state_error(bad))
    end
    assert.is_nil(amp.GradScaler.state_error(s:state_dict()))
    amp.GradScaler { enabled = false }:load_state_dict({})
  end)
end)

describe("Trainer precision", function()
  it("defaults to 32 and refuses unknown values and mixed precision on the CPU", function()
    assert.equal("32", T.Trainer { progress = "off" }.precision)
    assert.has_error(function() T.Trainer { precision = "64" } end,
      "Trainer: precision must be one of 32, bf16-mixed, 16-mixed, got '64'")
    assert.has_error(function() T.Trainer { precision = 16 } end)
    for _, p in ipairs({ "bf16-mixed", "16-mixed" }) do
      assert.has_error(function() T.Trainer { precision = p } end,
        "Trainer: precision '" .. p .. "' needs a CUDA device (device is 'cpu'): the CPU has no " ..
        "half storage and autocast does nothing there; use precision '32'")
    end
    -- a device that is none is named as such, not as a CPU without half storage
    for _, d in ipairs({ "gpu", "auto", "CUDA" }) do
      assert.has_error(function() T.Trainer { precision = "bf16-mixed", device = d } end,
        "Trainer: device must be 'cpu', 'cuda' or 'cuda:N', got " .. d)
    end
    -- on a CUDA device the option is accepted (nothing runs until fit)
    local t = T.Trainer { precision = "16-mixed", device = "cuda", progress = "off" }
    assert.equal("f16", t.autocast_dtype)
  end)

  it("saves the scaler's state in checkpoints and restores it on resume", function()
    local dir = proc.tmpdir()
    local m = tiny.MLP { in_dim = 4, hidden = 8, seed = 3 }
    local d = tiny.DataModule { n = 16, batch_size = 8, seed = 2 }
    local t = T.Trainer { max_epochs = 1, default_root_dir = dir, progress = "off" }
    t:fit(m, d)
    -- a 16-mixed trainer keeps its scaler here; the CPU cannot run one, so set it by hand
    t.scaler = amp.GradScaler { init_scale = 256, growth_interval = 7 }
    local path = dir .. "/with_scaler.safetensors"
    t:save_checkpoint(path)
    local c = ckpt.load(path)
    assert.same(t.scaler:state_dict(), c.trainer.scaler)
    local r = T.Trainer { max_epochs = 2, default_root_dir = dir, progress = "off" }
    r.model, r.datamodule, r.optimizer = m, d, t.optimizer
    r.generator = graphids.Generator(1)
    r.scaler = amp.GradScaler()
    r:_restore(c)
    assert.same(t.scaler:state_dict(), r.scaler:state_dict())
    -- a checkpoint written without a scaler cannot resume a 16-mixed run
    t.scaler = nil
    t:save_checkpoint(path)
    r.scaler = amp.GradScaler()
    assert.has_error(function() r:_restore(ckpt.load(path)) end)
    proc.rmtree(dir)
  end)

  it("is a validated configuration key, absent by default", function()
    local r = config.resolve("recipes/stages/gat.lua")
    assert.is_nil(r.validated.trainer.precision)
    local ok, err = pcall(config.resolve, "recipes/stages/gat.lua",
      { set = { { "trainer.precision", "bf16" } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("'trainer.precision' must be one of 32, bf16-mixed, 16-mixed, " ..
      "got 'bf16'", 1, true), tostring(err))
    ok, err = pcall(config.resolve, "recipes/stages/gat.lua",
      { set = { { "trainer.precision", "16-mixed" } } })
    assert.is_false(ok)
    assert.truthy(tostring(err):find("'trainer.precision' '16-mixed' needs a CUDA device", 1, true),
      tostring(err))
    local r2 = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.precision", "32" } } })
    assert.equal("32", r2.validated.trainer.precision)
    local r3 = config.resolve("recipes/stages/gat.lua", { set = { { "trainer.precision", "bf16-mixed" },
      { "trainer.device", "cuda" } } })
    assert.equal("bf16-mixed", r3.validated.trainer.precision)
  end)
end)

-- On the loopback device (a "16-mixed" fit needs a CUDA device): a checkpoint inside a group of
-- accumulated batches (N = 4, saved after batch 2), resumed under each precision.  Prints one
-- line per precision: "<precision> refused <message>" or "<precision> same <bool>" (the resumed
-- weights against the uninterrupted "16-mixed" run's), and whether the refused fits left the
-- model as it was.
local INSIDE_GROUP = [[
package.path = "spec/?.lua;spec/support/?.lua;" .. package.path
local class = require "graphids.class"
local cb = require "graphids.callbacks"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local tmp = os.tmpname()
local p = tmp .. "_inside.safetensors"
local function model(seed) return tiny.MLP { in_dim = 4, hidden = 8, seed = seed or 3 } end
local function dm() return tiny.DataModule { n = 44, batch_size = 8, seed = 2 } end
-- (the fit moved the model to the device, maybe not its snapshot: compared on the CPU)
local function weights(m)
  local w = {}
  for k, t in pairs(tiny.weights(m)) do w[k] = t:to("cpu") end
  return w
end
local function trainer(precision, cbs)
  return Trainer { max_epochs = 2, progress = "off", device = "cuda", precision = precision,
    accumulate_grad_batches = 4, gradient_clip_val = 0.5, callbacks = cbs }
end
local Kill = class("KillInsideGroup", cb.Callback)
function Kill.on_train_batch_end(_, t, _, i)
  if t.epoch == 0 and i == 2 then
    t:save_checkpoint(p)
    error("killed", 0)
  end
end
local t1 = trainer("16-mixed", { Kill() })
local ok, err = pcall(t1.fit, t1, model(), dm())
assert(not ok and err == "killed", tostring(err))
local ref = model()
trainer("16-mixed", {}):fit(ref, dm())
for _, precision in ipairs({ "32", "bf16-mixed", "16-mixed" }) do
  local m = model(9)
  local before = weights(m)
  local t2 = trainer(precision, {})
  local ok2, err2 = pcall(t2.fit, t2, m, dm(), { ckpt_path = p })
  if ok2 then
    print(precision .. " same " .. tostring(tiny.same_weights(weights(ref), weights(m))))
  else
    print(precision .. " refused " .. tostring(err2):gsub("'[^']*_inside%.safetensors'", "'FILE'"))
    print(precision .. " untouched " .. tostring(tiny.same_weights(before, weights(m))))
  end
end
os.remove(p)
os.remove(tmp)
]]

describe("Trainer precision on the loopback device", function()
  if skip.unless(lb.built(), "amp_spec: " .. lb.plugin .. " is not built") then
    return
  end
  it("refuses a 16-mixed checkpoint inside a group under another precision; 16-mixed resumes it exactly",
    function()
      local out, rc = lb.run(INSIDE_GROUP)
      assert.equal(0, rc, out)
      local function refusal(precision)
        return "checkpoint 'FILE' was saved inside a group of accumulated batches under precision " ..
          "'16-mixed', whose gradients so far are multiplied by its GradScaler's scale (65536) until the " ..
          "group's step; this fit's precision is '" .. precision .. "', which has no scaler to unscale " ..
          "them: resume it with precision '16-mixed', or resume from an epoch's end"
      end
      assert.equal(table.concat({
        "32 refused " .. refusal("32"), "32 untouched true",
        "bf16-mixed refused " .. refusal("bf16-mixed"), "bf16-mixed untouched true",
        "16-mixed same true", "" }, "\n"), out)
    end)
end)
