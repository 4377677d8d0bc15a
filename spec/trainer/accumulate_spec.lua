-- accumulate_spec.lua -- the Trainer's accumulate_grad_batches (Lightning 2.x's): one optimizer
-- step per group of N batches counted from the epoch's first, each loss divided by N, the
-- epoch's last group cut short and stepped, clipping of the summed gradients, global_step
-- counting optimizer steps, a first step equal to one batch twice the size, an exact resume from
-- a checkpoint taken inside a group, and the refusals.
local graphids = require "graphids"
local class = require "graphids.class"
local gio = require "graphids.io"
local ckpt = require "graphids.ckpt"
local cb = require "graphids.callbacks"
local F = require "graphids.nn.functional"
local Progress = require "graphids.trainer.progress"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local proc = require "trainer.support.proc"
local err_of = require("specenv").err_of

local model = tiny.small_mlp

-- 44 graphs in batches of 8: 6 batches an epoch, the last of 4.
local function dm(n, bs)
  return tiny.DataModule({ n = n or 44, batch_size = bs or 8, seed = 2 })
end

-- Records each training batch's end: its index, whether the trainer is accumulating, and the
-- global step; `at` (function(trainer, i)) runs there too.
local Rec = class("AccumulationRecorder", cb.Callback)
function Rec:__init(at) self.rows, self.at = {}, at end
function Rec:on_train_batch_end(t, _, i)
  self.rows[#self.rows + 1] = { epoch = t.epoch, i = i, accumulating = t.accumulating, step = t.global_step }
  if self.at then self.at(t, i) end
end

-- name -> clone of every parameter's gradient of model m.
local function grads(m)
  local out = {}
  for name, p in m:named_parameters() do
    out[name] = p.grad:detach():clone()
  end
  return out
end

local function close_tables(a, b, what)
  local n = 0
  for k, t in pairs(a) do
    n = n + 1
    assert(b[k] ~= nil, what .. ": " .. k .. " missing")
    assert.is_true(graphids.allclose(t, b[k], { rtol = 1e-5, atol = 1e-7 }), what .. ": " .. k .. " differs")
  end
  assert.is_true(n > 0, what .. ": nothing compared")
end

local function norm(g)
  local s = 0
  for _, t in pairs(g) do s = s + t:to("f64"):pow(2):sum():item() end
  return math.sqrt(s)
end

describe("Trainer accumulate_grad_batches", function()
  local dir
  before_each(function() dir = proc.tmpdir() end)
  after_each(function() proc.rmtree(dir) end)

  it("steps once per group of N batches, the epoch's last group cut short; global_step counts steps",
    function()
    -- {N, limit_train_batches, the batches of an epoch that end a group}
    local cases = {
      { 1, nil, { 1, 2, 3, 4, 5, 6 } },
      { 2, nil, { 2, 4, 6 } },
      { 4, nil, { 4, 6 } },
      { 6, nil, { 6 } },
      { 10, nil, { 6 } },
      { 4, 5, { 4, 5 } },
      { 4, 0.5, { 3 } }, -- 3 of the 6 batches
    }
    for _, c in ipairs(cases) do
      local N, limit, ends = c[1], c[2], c[3]
      local what = string.format("N = %d, limit %s", N, tostring(limit))
      local m = model()
      local steps = 0
      local configure = m.configure_optimizers
      rawset(m, "configure_optimizers", function(self, o)
        local opt, sched = configure(self, o)
        local step = opt.step
        opt.step = function(...) steps = steps + 1; return step(...) end
        return opt, sched
      end)
      local rec = Rec()
      local t = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = N,
        limit_train_batches = limit, callbacks = { rec } }
      t:fit(m, dm())
      local want, step = {}, 0
      for e = 0, 1 do
        local last = ends[#ends]
        local is_end = {}
        for _, i in ipairs(ends) do is_end[i] = true end
        for i = 1, last do
          if is_end[i] then step = step + 1 end
          want[#want + 1] = { epoch = e, i = i, accumulating = not is_end[i], step = step }
        end
      end
      assert.same(want, rec.rows, what)
      assert.equal(2 * #ends, t.global_step, what)
      assert.equal(t.global_step, steps, what .. ": optimizer steps")
      assert.is_false(t.accumulating, what)
    end
  end)

  it("divides each loss by N and steps the last, shorter group with what it summed (Lightning's)", function()
    -- 6 batches, N = 4: the second group is batches 5 and 6, stepped with (g5 + g6) / 4
    local snap, summed
    local rec = Rec(function(t, i)
      if i == 4 then snap = tiny.weights(t.model) end
      if i == 6 then summed = grads(t.model) end -- (the step leaves the gradients it took)
    end)
    local t = Trainer { max_epochs = 1, progress = "off", accumulate_grad_batches = 4, callbacks = { rec } }
    t:fit(model({ noise = 0 }), dm())
    local ref = model({ noise = 0 })
    ref:load_state_dict(snap)
    ref:train()
    local d = dm()
    d:setup()
    for b in d:train_loader():iter(0, 5) do
      F.cross_entropy(ref:forward(b.x), b.y):div(4):backward()
    end
    for name, g in pairs(grads(ref)) do
      assert.is_true(graphids.equal(g, summed[name]), name)
    end
  end)

  it("takes the first step of N = 2 batches of B as one batch of 2B would, clipped or not", function()
    -- the loss is a mean over the batch, and the two batches are equal in size: the mean of the
    -- two means is the mean over 2B (with batches of unequal size it is not, as in Lightning)
    for _, clip in ipairs({ false, 0.05 }) do
      local got = {}
      for _, run in ipairs({ { N = 2, bs = 8 }, { N = 1, bs = 16 } }) do
        local rec = Rec(function(t)
          if t.global_step == 1 and not t.accumulating and got[run.N] == nil then
            got[run.N] = { grads = grads(t.model), weights = tiny.weights(t.model) }
          end
        end)
        local t = Trainer { max_epochs = 1, progress = "off", accumulate_grad_batches = run.N,
          gradient_clip_val = clip or nil, limit_train_batches = run.N == 2 and 2 or 1, callbacks = { rec } }
        t:fit(model({ noise = 0 }), dm(64, run.bs))
        assert.equal(1, t.global_step)
      end
      local what = clip and "clipped" or "not clipped"
      close_tables(got[2].grads, got[1].grads, what .. " gradients")
      close_tables(got[2].weights, got[1].weights, what .. " weights after the step")
      if clip then
        -- the clip bit on the summed gradients: their norm is the clip value
        assert.is_true(math.abs(norm(got[2].grads) - clip) < 1e-6, tostring(norm(got[2].grads)))
      else
        assert.is_true(norm(got[2].grads) > 0.05, "the clipped case would not clip")
      end
    end
  end)

  it("resumes a checkpoint taken inside a group exactly as the uninterrupted run", function()
    -- {N, limit_train_batches, epoch and batch of the save, whether that batch is inside a group}
    local cases = {
      { 4, nil, 0, 2, true },
      { 4, nil, 1, 5, true }, -- inside the epoch's last, short group
      { 4, nil, 1, 4, false }, -- at a group's step
      { 3, 5, 1, 4, true }, -- inside the group the limit cuts short
      { 3, 5, 1, 5, false }, -- the limit's last batch
      { 2, 0.5, 2, 1, true },
    }
    for k, c in ipairs(cases) do
      local N, limit, epoch, batch, inside = c[1], c[2], c[3], c[4], c[5]
      local what = string.format("N = %d, limit %s, epoch %d batch %d", N, tostring(limit), epoch, batch)
      local function trainer(cbs)
        return Trainer { max_epochs = 4, progress = "off", accumulate_grad_batches = N,
          limit_train_batches = limit, gradient_clip_val = 0.5, callbacks = cbs }
      end
      local ref_model = model()
      local ref = trainer({})
      ref:fit(ref_model, dm())
      local p = gio.join(dir, k .. ".safetensors")
      local killer = Rec(function(t, i)
        if t.epoch == epoch and i == batch then
          t:save_checkpoint(p)
          error("killed", 0)
        end
      end)
      local t1 = trainer({ killer })
      assert.equal("killed", err_of(t1.fit, t1, model(), dm()), what)
      local c1 = ckpt.load(p)
      assert.equal(inside, c1.accumulated_grads ~= nil, what .. ": accumulated gradients in the file")
      assert.equal(inside, c1.trainer.accumulating ~= nil, what .. ": trainer.accumulating")
      local resumed = model({ seed = 9 }) -- other initial weights: the checkpoint's must win
      local t2 = trainer({})
      t2:fit(resumed, dm(), { ckpt_path = p })
      assert.same({ true }, { tiny.same_weights(tiny.weights(ref_model), tiny.weights(resumed)) }, what)
      assert.equal(ref.global_step, t2.global_step, what)
      assert.equal(ref.history[#ref.history].train_loss, t2.history[#t2.history].train_loss, what)
      assert.equal(ref.history[#ref.history].val_loss, t2.history[#t2.history].val_loss, what)
    end
  end)

  it("refuses a resume inside a group under another N or a limit before its next batch, and a model " ..
    "that optimizes itself", function()
    local p = gio.join(dir, "inside.safetensors")
    local killer = Rec(function(t, i)
      if i == 3 then
        t:save_checkpoint(p)
        error("killed", 0)
      end
    end)
    local t = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = 4,
      callbacks = { killer } }
    err_of(t.fit, t, model(), dm())
    local m = model()
    local before = tiny.weights(m)
    local t2 = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = 2 }
    assert.equal(string.format("checkpoint '%s' was saved inside a group of accumulated batches " ..
      "(accumulate_grad_batches = 4); this fit has accumulate_grad_batches = 2, which groups the batches " ..
      "otherwise: resume it with 4, or resume from an epoch's end", p),
      err_of(t2.fit, t2, m, dm(), { ckpt_path = p }))
    assert.is_true(tiny.same_weights(before, tiny.weights(m)))
    -- a limit_train_batches that ends the epoch before the group's next batch would drop its
    -- gradients (the saved group is batches 1-3 of 4); one that leaves a batch steps it there
    for _, lim in ipairs({ 3, 2, 0.5 }) do
      local d = dm()
      local t5 = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = 4,
        limit_train_batches = lim }
      assert.equal(string.format("checkpoint '%s' was saved inside a group of accumulated batches, after " ..
        "batch 3 of epoch 0; this fit's limit_train_batches = %s ends that epoch at batch %d, before the " ..
        "group's step, and would drop its summed gradients: resume it with a limit of at least 4 " ..
        "batches, or resume from an epoch's end", p, tostring(lim), lim == 0.5 and 3 or lim),
        err_of(t5.fit, t5, m, d, { ckpt_path = p }))
      assert.is_true(tiny.same_weights(before, tiny.weights(m)), tostring(lim))
      assert.same({ 0, 0 }, { d.epoch, d.position }, tostring(lim)) -- (the data as it was)
    end
    local rec = Rec()
    local t6 = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = 4,
      limit_train_batches = 4, callbacks = { rec } }
    t6:fit(model(), dm(), { ckpt_path = p })
    assert.same({ epoch = 0, i = 4, accumulating = false, step = 1 }, rec.rows[1])
    -- Lightning refuses accumulation for manual optimization too
    local t3 = Trainer { max_epochs = 1, progress = "off", accumulate_grad_batches = 2 }
    assert.equal("Trainer:fit: accumulate_grad_batches = 2 needs automatic optimization; TinyMLP " ..
      "optimizes itself (automatic_optimization = false) and steps on every batch",
      err_of(t3.fit, t3, model({ manual = true }), dm()))
    -- and clipping: the trainer would ignore the value (it clips only the steps it takes)
    local tc = Trainer { max_epochs = 1, progress = "off", gradient_clip_val = 0.5 }
    assert.equal("Trainer:fit: gradient_clip_val = 0.5 needs automatic optimization; TinyMLP " ..
      "optimizes itself (automatic_optimization = false) and clips, if at all, in its own training_step",
      err_of(tc.fit, tc, model({ manual = true }), dm()))
    -- the epoch's last batch must be known: a data module without train_loader() is refused
    local d = dm()
    rawset(d, "train_loader", function() return nil end)
    local t4 = Trainer { max_epochs = 1, progress = "off", accumulate_grad_batches = 2 }
    assert.matches("accumulate_grad_batches = 2 needs the data module's train_loader%(%) with a length",
      err_of(t4.fit, t4, model(), d))
  end)

  it("averages weights once per optimizer step, and prints progress lines per step", function()
    local ema = cb.EMAWeightAveraging { decay = 0.9 }
    local t = Trainer { max_epochs = 2, progress = "off", accumulate_grad_batches = 4, callbacks = { ema } }
    t:fit(model(), dm())
    assert.equal(4, t.global_step)
    assert.equal(4, ema.n_averaged)
    -- a batch that took no step (false) writes no line, whatever its index
    local buf = {}
    local sink = tiny.sink(buf)
    local p = Progress.new({ mode = "lines", every = 1, out = sink })
    p:epoch_start(0, 1, 4)
    p:step(1, 0.5, 8, false)
    assert.same({}, buf)
    p:step(2, 0.5, 8, 1)
    assert.truthy(table.concat(buf):find("step 2/4", 1, true))
  end)
end)
