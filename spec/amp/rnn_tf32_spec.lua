-- rnn_tf32_spec.lua -- graphids.gpu.rnn_tf32 / set_rnn_tf32 (gids/amp.h): the fused LSTM's f32
-- precision, torch's cudnn.rnn.fp32_precision.  Off unless GRAPHIDS_RNN_TF32=1 (read in child
-- hosts, since the environment is read once per process); the setter returns the previous
-- setting and checks its argument.  That the bilstm's forward and backward then run with TF32
-- products is spec/c/test_autocast.c's (on the loopback device).
local graphids = require "graphids"
local h = require "helpers"

local gpu = graphids.gpu

local function first_read(env)
  return require("env_switch").first_read("GRAPHIDS_RNN_TF32", "gpu.rnn_tf32()", env)
end

describe("gpu.rnn_tf32", function()
  it("is off unless GRAPHIDS_RNN_TF32=1", function()
    assert.equal("false", first_read(""))
    assert.equal("true", first_read("GRAPHIDS_RNN_TF32=1"))
    assert.equal("false", first_read("GRAPHIDS_RNN_TF32=0"))
    -- a value it does not take is refused, not silently off (gids_check_env)
    assert.equal("graphids: environment variable GRAPHIDS_RNN_TF32 is 'yes'; it takes 0 or 1 (or unset)\n",
      first_read("GRAPHIDS_RNN_TF32=yes"))
    -- a long value is shown by its first 40 bytes or less: never half a character
    local v = "x" .. string.rep("\u{e9}", 30)
    assert.equal("graphids: environment variable GRAPHIDS_RNN_TF32 is 'x" .. string.rep("\u{e9}", 19) ..
      "...'; it takes 0 or 1 (or unset)\n", first_read("GRAPHIDS_RNN_TF32=" .. v))
  end)

  it("refuses every switch set to a value it does not take", function()
    for _, e in ipairs({ "GRAPHIDS_ALLOW_TF32=true", "GRAPHIDS_CUDA_SYNC=2", "GRAPHIDS_CUDA_SYNC_DEBUG=1",
      "GRAPHIDS_DETERMINISTIC=on", "GRAPHIDS_CUDA_PINNED=off", "GIDS_LOOPBACK_ALL=yes",
      "GIDS_LOOPBACK_POISON=false", "GIDS_LOOPBACK_TAG=x" }) do
      local name, value = e:match("^([^=]+)=(.*)$")
      assert.truthy(first_read(e):find("environment variable " .. name .. " is '" .. value .. "'", 1, true),
        e)
    end
    for _, e in ipairs({ "GRAPHIDS_CUDA_SYNC_DEBUG=warn", "GRAPHIDS_CUDA_PINNED=0",
      "GRAPHIDS_ALLOW_TF32=" }) do
      assert.equal("false", first_read(e), e)
    end
  end)

  it("set_rnn_tf32 returns the previous setting, without a device too", function()
    local before = gpu.rnn_tf32()
    assert.equal(before, gpu.set_rnn_tf32(true))
    assert.is_true(gpu.rnn_tf32())
    assert.is_true(gpu.set_rnn_tf32(false))
    assert.is_false(gpu.rnn_tf32())
    assert.is_false(gpu.set_rnn_tf32(before))
    assert.equal(before, gpu.rnn_tf32())
  end)

  it("checks its arguments", function()
    h.errors("boolean expected, got string", gpu.set_rnn_tf32, "tf32")
    h.errors("boolean expected, got no value", gpu.set_rnn_tf32)
    h.errors("gpu.set_rnn_tf32: unexpected argument #2", gpu.set_rnn_tf32, true, 1)
    h.errors("gpu.rnn_tf32: unexpected argument #1", gpu.rnn_tf32, true)
  end)
end)
