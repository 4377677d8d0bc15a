-- stepping_batches_spec.lua -- Lightning's estimated_stepping_batches: the optimizer steps of
-- the whole fit, given to configure_optimizers (opts.estimated_stepping_batches) and kept as
-- trainer.estimated_stepping_batches, under accumulate_grad_batches, limit_train_batches,
-- fast_dev_run and max_epochs; a OneCycleLR sized by it runs exactly to its end.
local optim = require "graphids.optim"
local Trainer = require("graphids.trainer").Trainer
local tiny = require "trainer.support.tiny"
local err_of = require("specenv").err_of

local S = optim.lr_scheduler

-- 44 graphs in batches of 8: 6 training batches an epoch.
local function dm()
  return tiny.DataModule({ n = 44, batch_size = 8, seed = 2 })
end

-- The tiny MLP whose configure_optimizers records the opts it was given (seen[1]) and returns
-- Adam and make(opt, opts) (nil: no schedule).
local function model(seen, make)
  local m = tiny.small_mlp()
  rawset(m, "configure_optimizers", function(self, opts)
    seen[#seen + 1] = opts
    local opt = optim.Adam(self:parameters(), { lr = 0.05 })
    return opt, make and make(opt, opts) or nil
  end)
  return m
end

-- The docs' example (docs/trainer.md, "Scheduler config"): a OneCycleLR over the fit's steps.
local function one_cycle(opt, opts)
  return { scheduler = S.OneCycleLR(opt, { max_lr = 1e-2, total_steps = opts.estimated_stepping_batches }),
    interval = "step", name = "lr-onecycle" }
end

describe("Trainer estimated_stepping_batches", function()
  it("counts max_epochs x ceil(batches an epoch / accumulate_grad_batches), as the loop steps", function()
    -- {Trainer options, the estimate}; each fit must take exactly that many optimizer steps
    local cases = {
      { {}, 3 * 6 },
      { { accumulate_grad_batches = 4 }, 3 * 2 },                       -- groups of 4 and 2
      { { accumulate_grad_batches = 3 }, 3 * 2 },
      { { limit_train_batches = 5, accumulate_grad_batches = 3 }, 3 * 2 }, -- groups of 3 and 2
      { { limit_train_batches = 5 }, 3 * 5 },
      { { limit_train_batches = 0.5, accumulate_grad_batches = 2 }, 3 * 2 }, -- floor(6 x 0.5) = 3
      { { limit_train_batches = 20 }, 3 * 6 },                          -- a count past the loader's
      { { accumulate_grad_batches = 7 }, 3 * 1 },                       -- a group longer than the epoch
      { { fast_dev_run = 2 }, 2 },                                      -- one epoch of 2 batches
      { { fast_dev_run = 4, accumulate_grad_batches = 3 }, 2 },
    }
    for _, c in ipairs(cases) do
      local o = { max_epochs = 3, progress = "off", log = function() end }
      for k, v in pairs(c[1]) do o[k] = v end
      local what = require("graphids.json").encode(c[1])
      local seen = {}
      local t = Trainer(o)
      t:fit(model(seen), dm())
      assert.equal(c[2], seen[1].estimated_stepping_batches, what)
      assert.equal(c[2], t.estimated_stepping_batches, what)
      assert.equal(t.max_epochs, seen[1].max_epochs, what)
      assert.equal(c[2], t.global_step, what)
    end
  end)

  it("counts one epoch for max_epochs = 0 (Lightning's), none for limit_train_batches = 0", function()
    local seen = {}
    local t = Trainer { max_epochs = 0, progress = "off" }
    t:fit(model(seen), dm())
    assert.equal(6, seen[1].estimated_stepping_batches)
    assert.equal(0, t.global_step)
    local seen0 = {}
    local t0 = Trainer { max_epochs = 2, progress = "off", limit_train_batches = 0, log = function() end }
    t0:fit(model(seen0), dm())
    assert.equal(0, seen0[1].estimated_stepping_batches)
  end)

  it("is absent when a loader without a length leaves an epoch's batches unknown", function()
    -- (train_batches as the module's, from a loader the trainer cannot see)
    local lengthless = function()
      local d = dm()
      local loader = d.train_loader
      rawset(d, "train_batches", function(self)
        local it = loader(self):iter(self.epoch, self.position + 1)
        return function()
          local b, i = it()
          if b ~= nil then self.position = i end
          return b, i
        end
      end)
      rawset(d, "train_loader", function() return nil end)
      return d
    end
    local seen = {}
    local t = Trainer { max_epochs = 2, progress = "off" }
    t:fit(model(seen), lengthless())
    assert.is_nil(seen[1].estimated_stepping_batches)
    assert.is_nil(t.estimated_stepping_batches)
    -- a count limits it: the count (the loader here has more)
    local seen4 = {}
    local t4 = Trainer { max_epochs = 2, progress = "off", limit_train_batches = 4 }
    t4:fit(model(seen4), lengthless())
    assert.equal(8, seen4[1].estimated_stepping_batches)
    assert.equal(8, t4.global_step)
    -- a fraction of no length is named before configure_optimizers runs
    local seenf = {}
    local tf = Trainer { max_epochs = 2, progress = "off", limit_train_batches = 0.5 }
    assert.matches("limit_train_batches = 0.5 is a fraction of the epoch's batches, and the loader has no " ..
      "length", err_of(tf.fit, tf, model(seenf), lengthless()))
    assert.same({}, seenf)
  end)

  it("reads a plain list of batches' length, and none from an object without __len", function()
    -- (train_loader() sizes the epoch; the batches come from train_batches either way)
    local function with_loader(make)
      local d = dm()
      local own = d.train_loader
      rawset(d, "train_batches", function(self)
        local it = own(self):iter(self.epoch, self.position + 1)
        return function()
          local b, i = it()
          if b ~= nil then self.position = i end
          return b, i
        end
      end)
      rawset(d, "train_loader", function(self) return make(own(self)) end)
      return d
    end
    -- a list of the epoch's 6 batches: its length
    local listed = with_loader(function(inner)
      local out = {}
      for b in inner:iter(0) do out[#out + 1] = b end
      return out
    end)
    local seen = {}
    local t = Trainer { max_epochs = 3, progress = "off" }
    t:fit(model(seen), listed)
    assert.equal(3 * 6, seen[1].estimated_stepping_batches)
    assert.equal(3 * 6, t.global_step)
    -- an object with iter() but no __len: no length (its # read 0, and no batch ran)
    local opaque = with_loader(function(inner)
      return { iter = function(_, ...) return inner:iter(...) end }
    end)
    local seen2 = {}
    local t2 = Trainer { max_epochs = 3, progress = "off" }
    t2:fit(model(seen2), opaque)
    assert.is_nil(seen2[1].estimated_stepping_batches)
    assert.equal(3 * 6, t2.global_step)
    -- and accumulation, which needs the length, says so rather than step nothing
    local t3 = Trainer { max_epochs = 1, progress = "off", accumulate_grad_batches = 2 }
    assert.matches("accumulate_grad_batches = 2 needs the data module's train_loader%(%) with a length",
      err_of(t3.fit, t3, model({}), opaque))
  end)

  it("sizes a OneCycleLR that runs exactly to its total_steps over the whole fit", function()
    for _, o in ipairs({
      { accumulate_grad_batches = 1, limit_train_batches = 5 },
      { accumulate_grad_batches = 3, limit_train_batches = 5 },
      { accumulate_grad_batches = 3, limit_train_batches = 0.5 },
      { accumulate_grad_batches = 3 },
    }) do
      local what = require("graphids.json").encode(o)
      o.max_epochs, o.progress = 4, "off"
      local t = Trainer(o)
      t:fit(model({}, one_cycle), dm())
      local s = t.scheduler
      -- one step past total_steps raises (the fit would have stopped); one short leaves it unfinished
      assert.equal(s.total_steps, s.last_epoch, what)
      assert.equal(t.estimated_stepping_batches, s.total_steps, what)
      assert.equal(t.global_step, s.total_steps, what)
    end
  end)
end)
