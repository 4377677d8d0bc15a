-- executor_spec.lua -- graphids.orchestrate.executor's local executor: a failed job's error as
-- raised, or with tracebacks asked for, the frames where a fit failed (Trainer:fit re-raises
-- its error, which loses them).
local executor = require "graphids.orchestrate.executor"
local class = require "graphids.class"
local cb = require "graphids.callbacks"
local tiny = require "trainer.support.tiny"
local Trainer = require("graphids.trainer").Trainer

describe("graphids.orchestrate.executor", function()
  it("keeps the frames where a fit failed when asked for tracebacks", function()
    local Fails = class("FailsInHook", cb.Callback)
    local function deep_in_the_callback() error("hook failed", 0) end
    function Fails.on_train_epoch_start() deep_in_the_callback() end
    local job = { name = "j", fn = function()
      Trainer { max_epochs = 1, progress = "off", callbacks = { Fails() } }:fit(
        tiny.MLP({ in_dim = 4, hidden = 8, seed = 3 }), tiny.DataModule({ n = 16, batch_size = 8, seed = 2 }))
    end }
    local ok, err = executor.local_executor({ traceback = true }):run(job)
    assert.is_false(ok)
    assert.matches("^hook failed\nstack traceback:", err)
    assert.matches("deep_in_the_callback", err)
    assert.matches("re%-raised by Trainer:fit", err)
    ok, err = executor.local_executor():run(job)
    assert.is_false(ok)
    assert.equal("hook failed", err)
  end)
end)
