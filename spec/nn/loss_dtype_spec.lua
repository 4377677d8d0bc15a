-- loss_dtype_spec.lua -- the input and target dtypes each nn.functional loss (and the module
-- that wraps it) takes, against torch 2.15's answers for every pair among f32, f64, i64, i32,
-- u8 and bool; the result's dtype and value where taken; and the errors, which name the loss,
-- the operand and its dtype at the caller's line.
local graphids = require "graphids"
local nn = require "graphids.nn"
local helpers = require "helpers"
local near, long, at = helpers.near, helpers.long, helpers.errors_at_caller

local F = nn.functional
local DTS = { "f32", "f64", "i64", "i32", "u8", "bool" }

-- torch.nn.functional.<loss>(input, target) on the CPU, reduction "mean": the result's dtype
-- for an input (row) and a target (column, in DTS's order) of each dtype, "-" where torch
-- refuses the pair; a missing row refuses every target.  The operands are DATA's below.
local MSE = { f32 = "f32 f64 f32 f32 f32 f32", f64 = "f64 f64 f64 f64 f64 f64",
  i64 = "f32 f64 - - - -", i32 = "f32 f64 - - - -", u8 = "f32 f64 - - - -", bool = "f32 f64 - - - -" }
local TORCH = {
  mse_loss = MSE,
  smooth_l1_loss = MSE,
  l1_loss = { f32 = "f32 f64 f32 f32 f32 -", f64 = "f64 f64 f64 f64 f64 -",
    i64 = "f32 f64 - - - -", i32 = "f32 f64 - - - -", u8 = "f32 f64 - - - -" },
  huber_loss = { f32 = "f32 f32 f32 f32 f32 f32", f64 = "f64 f64 f64 f64 f64 f64" },
  binary_cross_entropy = { f32 = "f32 - - - - -", f64 = "- f64 - - - -" },
  binary_cross_entropy_with_logits = { f32 = "f32 f64 - - - -", f64 = "f32 f64 - - - -" },
  kl_div = { f32 = "f32 f64 - - - -", f64 = "f64 f64 - - - -" },
  cross_entropy = { f32 = "f32 f64 f32 - f32 -", f64 = "f64 f64 f64 - f64 -" },
  nll_loss = { f32 = "- - f32 - f32 -", f64 = "- - f64 - f64 -" },
}
-- focal_loss has no torch analogue: it takes what cross_entropy takes.
TORCH.focal_loss = TORCH.cross_entropy
-- The one departure (docs/nn.md): the class losses take i32 class ids, as i64 ones.
local CLASS = { cross_entropy = true, nll_loss = true, focal_loss = true }

local MODULE = { mse_loss = "MSELoss", smooth_l1_loss = "SmoothL1Loss", l1_loss = "L1Loss",
  huber_loss = "HuberLoss", binary_cross_entropy = "BCELoss",
  binary_cross_entropy_with_logits = "BCEWithLogitsLoss", kl_div = "KLDivLoss",
  cross_entropy = "CrossEntropyLoss", nll_loss = "NLLLoss", focal_loss = "FocalLoss" }

-- { float input, integer input, float target, integer target } (bool: the integers != 0).  A
-- class loss's input is [2, 3]; its float target is class probabilities (cross_entropy) or
-- class-id shaped (nll_loss, which torch then refuses by dtype, not by shape).
local PW = { { 0.25, 0.75, 2.5 }, { 0, 1, 3 }, { 0.0, 1.0, 0.5 }, { 0, 1, 1 } }
local CE = { { { 0.5, -1.0, 2.0 }, { 0.1, 0.2, -0.3 } }, { { 0, 1, 2 }, { 2, 0, 1 } },
  { { 0.2, 0.3, 0.5 }, { 1.0, 0.0, 0.0 } }, { 0, 1 } }
local DATA = {
  mse_loss = PW, smooth_l1_loss = PW, l1_loss = PW, huber_loss = PW,
  binary_cross_entropy = { { 0.2, 0.7, 0.5 }, { 0, 1, 1 }, { 0.0, 1.0, 0.5 }, { 0, 1, 1 } },
  binary_cross_entropy_with_logits = { { -1.0, 0.5, 2.0 }, { 0, 1, 2 }, { 0.0, 1.0, 0.5 }, { 0, 1, 1 } },
  kl_div = { { -1.2, -0.5, -2.0 }, { 0, 1, 2 }, { 0.3, 0.7, 0.0 }, { 0, 1, 1 } },
  cross_entropy = CE, focal_loss = CE,
  nll_loss = { { { -1.5, -0.5, -2.0 }, { -0.1, -3.0, -1.0 } }, CE[2], { 0.0, 1.0 }, { 0, 1 } },
}

local function is_float(dt) return dt == "f32" or dt == "f64" end

local function operand(values_f, values_i, dt)
  if is_float(dt) then return graphids.tensor(values_f, { dtype = dt }) end
  return long(values_i):to(dt)
end

local function operands(loss, a, b)
  local d = DATA[loss]
  return operand(d[1], d[2], a), operand(d[3], d[4], b)
end

-- The result dtype graphids gives, or nil where it refuses.
local function expected(loss, a, b)
  if CLASS[loss] and b == "i32" then b = "i64" end
  local row = TORCH[loss][a]
  if row == nil then return nil end
  local col = {}
  for w in row:gmatch("%S+") do col[#col + 1] = w end
  for j, dt in ipairs(DTS) do
    if dt == b then return col[j] ~= "-" and col[j] or nil end
  end
end

describe("nn.functional losses' operand dtypes, as torch 2.15", function()
  it("each loss and its module take the pairs torch takes, and refuse the rest at the caller", function()
    for loss, mod in pairs(MODULE) do
      local crit = nn[mod]()
      for _, a in ipairs(DTS) do
        for _, b in ipairs(DTS) do
          local x, y = operands(loss, a, b)
          local want = expected(loss, a, b)
          local case = loss .. "(" .. a .. ", " .. b .. ")"
          if want then
            local r = F[loss](x, y)
            assert.equal(want, r.dtype, case)
            assert.equal(want, crit(x, y).dtype, case .. " by " .. mod)
            -- the value is the loss of the same numbers in f64
            local ref = F[loss](x:double(), is_float(b) and y:double() or y)
            near(r:item(), ref:item(), (a == "f32" or b == "f32") and 1e-6 or 1e-12, case)
          else
            at("^spec/support/helpers%.lua:%d+: " .. loss .. ": ", F[loss], x, y)
            at("^spec/support/helpers%.lua:%d+: " .. mod .. ": ", crit, x, y) -- named by the module
          end
        end
      end
    end
  end)

  it("gives torch's values for mixed dtypes", function()
    -- torch 2.15, reduction "mean", DATA's operands
    for _, c in ipairs({ { "mse_loss", "i64", "f32", 2.0833333 }, { "mse_loss", "f32", "bool", 0.79166669 },
      { "l1_loss", "i32", "f64", 0.83333333 }, { "smooth_l1_loss", "u8", "f32", 0.66666669 },
      { "huber_loss", "f32", "f64", 0.52083331 }, { "huber_loss", "f64", "bool", 0.35416667 },
      { "binary_cross_entropy_with_logits", "f64", "f32", 0.63808888 },
      { "kl_div", "f64", "f32", 0.033045222 }, { "cross_entropy", "f32", "u8", 1.3310695 },
      { "cross_entropy", "f32", "f64", 1.2310695 }, { "nll_loss", "f64", "u8", 2.25 } }) do
      near(F[c[1]](operands(c[1], c[2], c[3])):item(), c[4], 1e-6, c[1] .. "(" .. c[2] .. ", " .. c[3] .. ")")
    end
  end)

  it("l1_loss sums and keeps two integer operands without a mean; mse and smooth_l1 refuse them", function()
    -- torch: l1_loss(i64 [0, 1, 3], i32 [0, 1, 1], reduction="sum") = 2 (i64); its mean fails
    -- ("mean(): could not infer output dtype"), and mse/smooth_l1 have no integer kernel
    local x, y = long({ 0, 1, 3 }), long({ 0, 1, 1 }):int()
    local s = F.l1_loss(x, y, { reduction = "sum" })
    assert.equal("i64", s.dtype)
    assert.equal(2, s:item())
    assert.same({ 0, 0, 2 }, F.l1_loss(x, y, { reduction = "none" }):totable())
    at("^[^:]+:%d+: l1_loss: input of dtype i64 and target of dtype i32 are not supported with reduction "
      .. "'mean'; convert one of them to a float dtype first %(e%.g%. input:float%(%)%)$", F.l1_loss, x, y)
    for _, red in ipairs({ "mean", "sum", "none" }) do
      at("mse_loss: input of dtype i64 and target of dtype i32 are not supported; convert one of them to "
        .. "a float dtype first %(e%.g%. input:float%(%)%)$", F.mse_loss, x, y, { reduction = red })
      at("smooth_l1_loss: input of dtype u8 and target of dtype u8 are not supported", F.smooth_l1_loss,
        x:byte(), x:byte(), { reduction = red })
    end
  end)
end)

describe("nn.functional losses with a bool input or target", function()
  -- torch 2.x: mse_loss(tensor([1, 0.5, 0.2]), tensor([T, F, T])) = 0.29667, smooth_l1 and huber
  -- 0.14833 (f32, true counts as 1); l1, the BCEs and kl_div refuse a bool operand, huber a
  -- bool input.
  local x = function() return graphids.tensor({ 1.0, 0.5, 0.2 }) end
  local t = function() return graphids.tensor({ true, false, true }) end

  it("mse and smooth_l1 take one beside a float operand, huber as its target, as torch", function()
    for _, c in ipairs({ { F.mse_loss, 0.29666667 }, { F.smooth_l1_loss, 0.14833333 },
      { F.huber_loss, 0.14833333 }, { nn.MSELoss(), 0.29666667 } }) do
      local r = c[1](x(), t())
      assert.equal("f32", r.dtype)
      near(r:item(), c[2], 1e-6)
      if c[1] ~= F.huber_loss then near(c[1](t(), x()):item(), c[2], 1e-6) end
    end
    assert.equal("f64", F.mse_loss(x():double(), t()).dtype)
    near(F.mse_loss(x():double(), t(), { reduction = "none" }):totable(), { 0.0, 0.25, 0.64 }, 1e-7)
    local xr = x():requires_grad_()
    F.mse_loss(xr, t()):backward()
    near(xr.grad:totable(), { 0.0, 1 / 3, -0.53333333 }, 1e-6)
  end)

  it("refuse a bool operand beside a non-float one, or two, and huber a bool input", function()
    at("mse_loss: target of dtype bool needs a float input, got i64", F.mse_loss, long({ 1, 0, 0 }), t())
    at("smooth_l1_loss: input of dtype bool needs a float target, got i64", F.smooth_l1_loss, t(),
      long({ 1, 0, 0 }))
    at("smooth_l1_loss: input and target of dtype bool are not supported", F.smooth_l1_loss, t(), t())
    at("huber_loss: input of dtype bool is not supported; convert it to a float dtype first %(e%.g%. "
      .. "input:to%(target%.dtype%)%)$", F.huber_loss, t(), x())
  end)

  it("l1, the BCEs and kl_div refuse one, naming the loss and the operand", function()
    local p = graphids.tensor({ 0.9, 0.5, 0.2 })
    for _, c in ipairs({ { F.l1_loss, "l1_loss" }, { F.binary_cross_entropy, "binary_cross_entropy" },
      { F.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits" },
      { F.kl_div, "kl_div" } }) do
      at("^[^:]+:%d+: " .. c[2] .. ": target of dtype bool is not supported; convert it to a float dtype",
        c[1], p, t())
      at(c[2] .. ": input of dtype bool is not supported", c[1], t(), p)
    end
    at("kl_div: target of dtype bool", F.kl_div, p, t(), { log_target = true })
    at("BCELoss: target of dtype bool", nn.BCELoss(), p, t())
  end)
end)

describe("nn.functional losses with an integer or mismatched float operand", function()
  -- torch 2.15 refuses an integer one in the BCEs (binary_cross_entropy: "Found dtype Long but
  -- expected Float"; the logits form: "result type Float can't be cast to the desired output
  -- type Long"), in kl_div ("Integral inputs not supported") and as huber's input ("result type
  -- Float can't be cast to the desired output type Long"), for i64, i32 and u8 alike.
  local p = function() return graphids.tensor({ 0.2, 0.7, 0.5 }) end

  it("the BCEs and kl_div refuse one, naming the loss, the operand and its dtype", function()
    for _, c in ipairs({ { F.binary_cross_entropy, "binary_cross_entropy" },
      { F.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits" },
      { F.kl_div, "kl_div" } }) do
      for _, dt in ipairs({ "i64", "i32", "u8" }) do
        local y = long({ 0, 1, 1 }):to(dt)
        at("^[^:]+:%d+: " .. c[2] .. ": target of dtype " .. dt .. " is not supported; convert it to a "
          .. "float dtype first %(e%.g%. target:to%(input%.dtype%)%)$", c[1], p(), y)
        at(c[2] .. ": input of dtype " .. dt .. " is not supported; convert it to a float dtype first "
          .. "%(e%.g%. input:to%(target%.dtype%)%)$", c[1], y, p())
      end
      at(c[2] .. ": target of dtype i64 is not supported; convert it to a float dtype first "
        .. "%(e%.g%. target:float%(%)%)$", c[1], long({ 0, 1 }), long({ 0, 1 }))
    end
    at("kl_div: target of dtype i64", F.kl_div, p(), long({ 0, 1, 1 }), { log_target = true })
    at("kl_div: target of dtype i64", F.kl_div, p(), long({ 0, 1, 1 }), { reduction = "batchmean" })
    at("huber_loss: input of dtype u8 is not supported; convert it to a float dtype first %(e%.g%. "
      .. "input:float%(%)%)$", F.huber_loss, long({ 0, 1, 1 }):byte(), long({ 0, 1, 1 }))
  end)

  it("binary_cross_entropy needs one float dtype; the logits form gives the target's", function()
    at("^[^:]+:%d+: binary_cross_entropy: target of dtype f64 does not match the input's dtype f32; "
      .. "convert it first %(e%.g%. target:to%(input%.dtype%)%)$", F.binary_cross_entropy, p(), p():double())
    at("BCELoss: target of dtype f32 does not match the input's dtype f64", nn.BCELoss(), p():double(), p())
    -- torch builds the logits form in place on 1 - target
    assert.equal("f32", F.binary_cross_entropy_with_logits(p():double(), p(), { reduction = "none" }).dtype)
    local x = p():double():requires_grad_()
    F.binary_cross_entropy_with_logits(x, p()):backward()
    assert.equal("f64", x.grad.dtype)
  end)
end)

describe("nn.functional losses' weight dtypes, as torch 2.15", function()
  local x3, t3 = graphids.tensor({ 0.2, 0.7, 0.5 }), graphids.tensor({ 0.0, 1.0, 0.5 })
  local logits = graphids.tensor({ { 0.5, -1.0, 2.0 }, { 0.1, 0.2, -0.3 } })
  local w = function(dt) return long({ 1, 2, 1 }):to(dt) end

  it("a class weight beside class ids has the input's dtype; beside probabilities any", function()
    -- torch: cross_entropy(f32, i64, weight=f64) "expected scalar type Float but found Double";
    -- with probabilities [[0.2, 0.3, 0.5], [1, 0, 0]] and weight f64 [1, 2, 1]: 1.717266 (f64)
    for _, dt in ipairs({ "f64", "i64", "bool" }) do
      at("^[^:]+:%d+: cross_entropy: weight of dtype " .. dt .. " does not match the input's dtype f32 "
        .. "%(with class%-id targets%); convert it first %(e%.g%. weight:to%(input%.dtype%)%)$",
        F.cross_entropy, logits, long({ 0, 1 }), { weight = w(dt) })
      at("nll_loss: weight of dtype " .. dt .. " does not match the input's dtype f32; convert",
        F.nll_loss, logits, long({ 0, 1 }), { weight = w(dt) })
      at("focal_loss: weight of dtype " .. dt, F.focal_loss, logits, long({ 0, 1 }), { weight = w(dt) })
    end
    at("CrossEntropyLoss: weight of dtype f64", nn.CrossEntropyLoss({ weight = w("f64") }), logits,
      long({ 0, 1 }))
    local probs = graphids.tensor({ { 0.2, 0.3, 0.5 }, { 1.0, 0.0, 0.0 } })
    local r = F.cross_entropy(logits, probs, { weight = w("f64") })
    assert.equal("f64", r.dtype)
    near(r:item(), 1.717266, 1e-6)
  end)

  it("focal_loss's per-class alpha has the input's dtype, as its class weight", function()
    -- (no torch analogue: a [C] alpha is a class weight beside class ids, which cross_entropy
    -- takes of the input's dtype only; an f64 one had widened an f32 loss to f64)
    local a64 = graphids.tensor({ 0.5, 1, 2 }, { dtype = "f64" })
    at("^[^:]+:%d+: focal_loss: alpha has dtype f64, but input has dtype f32 %(convert it: "
      .. "alpha:float%(%)%)$", F.focal_loss, logits, long({ 0, 1 }), { alpha = a64 })
    at("^spec/support/helpers%.lua:%d+: FocalLoss: alpha has dtype i64, but input has dtype f32 ",
      nn.FocalLoss({ alpha = w("i64") }), logits, long({ 0, 1 }))
    local r = F.focal_loss(logits:double(), long({ 0, 2 }), { alpha = a64 })
    assert.equal("f64", r.dtype)
    near(r:item(), F.focal_loss(logits, long({ 0, 2 }), { alpha = a64:float() }):item(), 1e-6)
  end)

  it("a BCE's weight leaves the loss's dtype; a bool pos_weight is refused", function()
    -- torch: binary_cross_entropy(x3, t3, weight=f64 [1, 2, 1]) = 0.5432135 (f32); the logits
    -- form of [-1, 0.5, 2] with pos_weight bool: "Subtraction ... with a bool tensor"
    for _, dt in ipairs({ "f64", "i64", "bool" }) do
      local r = F.binary_cross_entropy(x3, t3, { weight = w(dt) })
      assert.equal("f32", r.dtype)
      near(r:item(), dt == "bool" and 0.42432189 or 0.5432135, 1e-6)
      assert.equal("f32", F.binary_cross_entropy_with_logits(x3, t3, { weight = w(dt) }).dtype)
    end
    near(F.binary_cross_entropy_with_logits(graphids.tensor({ -1.0, 0.5, 2.0 }), t3,
      { pos_weight = w("f64") }):item(), 0.7961146, 1e-6)
    at("^[^:]+:%d+: binary_cross_entropy_with_logits: pos_weight of dtype bool is not supported; convert "
      .. "it to a float dtype first %(e%.g%. pos_weight:to%(input%.dtype%)%)$",
      F.binary_cross_entropy_with_logits, x3, t3, { pos_weight = w("bool") })
  end)
end)

describe("nn.functional class losses' target and input dtypes", function()
  local logits = graphids.tensor({ { 0.5, -1.0, 2.0 }, { 0.1, 0.2, -0.3 } })

  it("take u8 class ids as torch, and i32 ones as i64 ones", function()
    -- torch: cross_entropy(logits, u8 [0, 255], ignore_index=255) = 1.7413113, as with i64 [0, -100]
    local want = F.cross_entropy(logits, long({ 0, -100 })):item()
    near(want, 1.7413113, 1e-6)
    near(F.cross_entropy(logits, long({ 0, 255 }):byte(), { ignore_index = 255 }):item(), want, 1e-7)
    near(F.focal_loss(logits, long({ 0, 2 }):byte(), { alpha = graphids.tensor({ 0.5, 1, 2 }) }):item(),
      F.focal_loss(logits, long({ 0, 2 }), { alpha = graphids.tensor({ 0.5, 1, 2 }) }):item(), 1e-7)
    near(F.nll_loss(logits, long({ 2, 1 }):int()):item(), F.nll_loss(logits, long({ 2, 1 })):item(), 1e-7)
    at("^[^:]+:%d+: nll_loss: target 3 is out of bounds for 3 classes$", F.nll_loss, logits,
      long({ 0, 3 }):byte())
  end)

  it("refuse other targets and a non-float input by the loss's name, at the caller", function()
    at("^[^:]+:%d+: nll_loss: class targets must be i64, i32 or u8, got f32$", F.nll_loss, logits,
      graphids.tensor({ 0.0, 1.0 }))
    at("^[^:]+:%d+: cross_entropy: class targets must be i64, i32 or u8, got bool %(for class "
      .. "probabilities give a float target of the input's shape%)$", F.cross_entropy, logits,
      graphids.tensor({ true, false }))
    for _, c in ipairs({ { F.cross_entropy, "cross_entropy" }, { F.nll_loss, "nll_loss" } }) do
      at("^[^:]+:%d+: " .. c[2] .. ": input must be a float tensor %(f32 or f64%), got i64$", c[1],
        logits:long(), long({ 0, 1 }))
      at(c[2] .. ": input must be a float tensor %(f32 or f64%), got bool", c[1], logits:gt(0),
        long({ 0, 1 }))
    end
  end)
end)
