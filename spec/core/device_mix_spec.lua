-- device_mix_spec.lua -- calls that mix a CPU and a device tensor are refused under the name of
-- the call the user made (not of the op inside it), on the loopback device in a child host:
-- equal, allclose, and a .grad set on another device than its tensor's.
local skip = require "skip"
local lb = require "loopback"

local MIXES = [[
local graphids = require "graphids"
local d = graphids.zeros(2, 3, { device = "cuda" })
local t = graphids.zeros(2, 3)
local function fails(want, fn)
  local ok, err = pcall(fn)
  assert(not ok and tostring(err):find(want, 1, true), "expected '" .. want .. "', got " .. tostring(err))
end
fails("equal: tensors on different devices (cuda:0 and cpu)", function() return d:equal(t) end)
fails("allclose: tensors on different devices (cpu and cuda:0)", function()
  return graphids.allclose(t, d)
end)
local p = graphids.randn(3, { requires_grad = true, device = "cuda" })
fails("grad: a gradient on cpu for a tensor on cuda:0", function() p.grad = graphids.zeros(3) end)
assert(p.grad == nil)
assert(d:equal(d:clone()) and graphids.allclose(d, d))
print("mixes: ok")
]]

describe("calls mixing devices", function()
  if skip.unless(lb.built(), "device_mix_spec: " .. lb.plugin .. " is not built") then
    return
  end

  it("are refused under the caller's name", function()
    local out, rc = lb.run(MIXES)
    assert(rc == 0 and out:find("mixes: ok", 1, true), out)
  end)
end)
