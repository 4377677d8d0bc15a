-- gemm_tuning_spec.lua -- graphids.gpu.gemm_tuning / set_gemm_tuning / tuned_gemms
-- (gids/gemm_tuning.h, backend ABI 11): the switch (off unless GRAPHIDS_GEMM_TUNE=1, read in child
-- hosts since the environment is read once per process), its argument checks, the loader's
-- reason on a machine without a GPU, and the list's shape on the loopback device (which tunes
-- nothing: its products are the CPU's).  What tuning does to products on a GPU is
-- spec/gpu/gpu_check.lua's "GEMM tuning" checks.
local graphids = require "graphids"
local gio = require "graphids.io"
local h = require "helpers"
local lb = require "loopback"
local proc = require "trainer.support.proc"
local skip = require "skip"

local gpu = graphids.gpu

local function first_read(env)
  return require("env_switch").first_read("GRAPHIDS_GEMM_TUNE", "gpu.gemm_tuning()", env)
end

describe("gpu.gemm_tuning", function()
  it("is off unless GRAPHIDS_GEMM_TUNE=1", function()
    assert.equal("false", first_read(""))
    assert.equal("true", first_read("GRAPHIDS_GEMM_TUNE=1"))
    assert.equal("false", first_read("GRAPHIDS_GEMM_TUNE=0"))
    assert.equal("graphids: environment variable GRAPHIDS_GEMM_TUNE is 'on'; it takes 0 or 1 (or unset)\n",
      first_read("GRAPHIDS_GEMM_TUNE=on"))
  end)

  it("set_gemm_tuning returns the previous setting, without a device too", function()
    local before = gpu.gemm_tuning()
    assert.equal(before, gpu.set_gemm_tuning(true))
    assert.is_true(gpu.gemm_tuning())
    assert.is_true(gpu.set_gemm_tuning(false))
    assert.is_false(gpu.gemm_tuning())
    assert.is_false(gpu.set_gemm_tuning(before))
    assert.equal(before, gpu.gemm_tuning())
  end)

  it("a set wins over the environment read after it", function()
    local dir = proc.tmpdir()
    local script = gio.join(dir, "set.lua")
    proc.spit(script, [[
      local gpu = require("graphids").gpu
      io.write(tostring(gpu.set_gemm_tuning(false)), " ", tostring(gpu.gemm_tuning()))]])
    local p = io.popen(("GRAPHIDS_GEMM_TUNE=1 %s run %s 2>&1"):format(proc.q(proc.host), proc.q(script)))
    local out = p:read("a")
    p:close()
    proc.rmtree(dir)
    assert.equal("true false", out)
  end)

  it("checks its arguments", function()
    h.errors("boolean expected, got number", gpu.set_gemm_tuning, 1)
    h.errors("boolean expected, got no value", gpu.set_gemm_tuning)
    h.errors("gpu.set_gemm_tuning: unexpected argument #2", gpu.set_gemm_tuning, true, 1)
    h.errors("gpu.gemm_tuning: unexpected argument #1", gpu.gemm_tuning, true)
    h.errors("gpu.tuned_gemms: unexpected argument #1", gpu.tuned_gemms, 0)
  end)

  it("tuned_gemms says why there is no device on a machine without one", function()
    if gpu.is_available() then
      skip.skip("gemm_tuning_spec: a device is available (spec/gpu/gpu_check.lua covers the list)")
      return
    end
    h.errors("gpu.tuned_gemms: " .. gpu.status():gsub("%p", "%%%0"), gpu.tuned_gemms)
  end)

  it("tuned_gemms is an empty list on the loopback device, whose products are the CPU's", function()
    if skip.unless(lb.built(), "the loopback plugin is not built") then return end
    local out, rc = lb.run([[
      local graphids = require "graphids"
      local gpu = graphids.gpu
      gpu.set_gemm_tuning(true)
      local a = graphids.randn({ 64, 32 }):cuda()
      local p = graphids.mm(a, a:t())
      assert(p.device == "cuda:0")
      local list = gpu.tuned_gemms()
      io.write(type(list), " ", #list)]], "")
    assert.equal(0, rc, out)
    assert.equal("table 0", out)
  end)
end)
