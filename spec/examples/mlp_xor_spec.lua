-- mlp_xor_spec.lua -- the worked example recipes/examples/mlp_xor.lua runs to convergence both
-- under `graphids run` and by dofile, as from the REPL.
local skip = require "skip"

local build = os.getenv("GRAPHIDS_BUILD") or "build"
local host = build .. "/bin/graphids"
local ok_nn, nn_err = pcall(require, "graphids.nn")
local ok_optim, optim_err = pcall(require, "graphids.optim")
local has_autograd = require("graphids").Tensor.backward ~= nil

describe("the mlp_xor example", function()
  if skip.unless(ok_nn, "graphids.nn is not available: " .. tostring(nn_err)) then return end
  if skip.unless(ok_optim, "graphids.optim is not available: " .. tostring(optim_err)) then
    return
  end
  if skip.unless(has_autograd, "the autograd Lua API (t:backward) is not bound") then return end

  it("trains to near-zero loss under `graphids run` and exits 0", function()
    local p = io.popen(host .. " run recipes/examples/mlp_xor.lua 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    assert.matches("rc=0\n$", out, 1, false)
    assert.matches("epoch  400  loss", out, 1, true)
    assert.matches("1 xor 0 %-> 0%.9", out)
    assert.matches("converged: loss 0%.00", out)
  end)

  it("exits non-zero when it cannot converge (too few epochs)", function()
    local p = io.popen(host .. " run recipes/examples/mlp_xor.lua 3 2>&1; echo \"rc=$?\"")
    local out = p:read("a")
    p:close()
    assert.matches("mlp_xor: did not converge in 3 epochs", out, 1, true)
    assert.matches("rc=1\n$", out)
  end)

  it("runs from the REPL with dofile and returns the model and its loss", function()
    local real_print = print
    _G.print = function() end
    local ok, model, loss = pcall(dofile, "recipes/examples/mlp_xor.lua")
    _G.print = real_print
    assert(ok, tostring(model))
    assert.is_true(loss < 0.01)
    assert.is_not_nil(model.forward)
  end)
end)
