-- half_create_spec.lua -- f16/bf16 tensors on the CPU side of the binding: creating one on the
-- CPU is an error naming the function and the way out, with or without an explicit device;
-- to() lists the half dtypes.  Creation on a CUDA device is checked by spec/gpu/amp_check.lua
-- (on the loopback device without a GPU).
local graphids = require "graphids"

-- Asserts that fn(...) raises an error containing want (plain text).
local function fails_with(want, fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok)
  assert.truthy(tostring(err):find(want, 1, true), tostring(err))
end

describe("half dtypes on the CPU", function()
  it("zeros, ones, empty, full and the _like forms refuse them", function()
    for _, dt in ipairs({ "f16", "bf16" }) do
      local why = "dtype " .. dt .. " is a GPU storage type; use f32 on the CPU"
      fails_with("zeros: " .. why, graphids.zeros, 2, 3, { dtype = dt })
      fails_with("ones: " .. why, graphids.ones, { 2 }, { dtype = dt, device = "cpu" })
      fails_with("empty: " .. why, graphids.empty, 4, { dtype = dt })
      fails_with("full: " .. why, graphids.full, { 2 }, 1.5, { dtype = dt })
      -- the _like forms fail in the runtime's zeros/full, which names itself
      local x = graphids.zeros(2)
      fails_with(why, graphids.zeros_like, x, { dtype = dt })
      fails_with(why, graphids.full_like, x, 1, { dtype = dt, device = "cpu" })
    end
    -- the aliases parse to the same dtypes
    fails_with("zeros: dtype bf16 is a GPU storage type", graphids.zeros, 2, { dtype = "bfloat16" })
    fails_with("zeros: dtype f16 is a GPU storage type", graphids.zeros, 2, { dtype = "half" })
  end)

  it("a device option still makes f32 fills that equal the CPU's", function()
    local z = graphids.full({ 2, 2 }, 2.5, { device = "cpu", requires_grad = true })
    assert.equal("cpu", z.device)
    assert.is_true(z.requires_grad)
    assert.same({ { 2.5, 2.5 }, { 2.5, 2.5 } }, z:totable())
    assert.same({ 1, 1, 1 }, graphids.ones_like(graphids.zeros(3, { dtype = "i64" }), { device = "cpu" })
      :totable())
  end)

  it("tensor refuses them without a device, naming itself", function()
    for _, dt in ipairs({ "f16", "bf16" }) do
      local why = "tensor: dtype " .. dt .. " is a GPU storage type: give device = 'cuda' (or make an f32 " ..
        "tensor on the CPU)"
      fails_with(why, graphids.tensor, { 1.5, 2 }, { dtype = dt })
      fails_with(why, graphids.tensor, { 1.5, 2 }, { dtype = dt, device = "cpu" })
      fails_with(why, graphids.tensor, graphids.zeros(2), { dtype = dt })
    end
  end)

  it("to() names the half dtypes in its error", function()
    fails_with("to: 'banana' is neither a dtype (f32, f64, i64, i32, u8, bool; f16, bf16 on a CUDA " ..
      "device) nor a device (cpu, cuda, cuda:N)", graphids.zeros(2).to, graphids.zeros(2), "banana")
  end)
end)
