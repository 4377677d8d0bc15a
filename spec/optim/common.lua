-- common.lua -- what the optimizer specs share: which autograd pieces the binding has today,
-- parameters, and grads from a quadratic loss.
--   local common = require "optim.common"
--   if common.skip_without_grads() then return end     -- prints "skipped: <reason>"
--   local p = common.param({ 1.0, -2.0 })               -- f64 leaf with requires_grad
--   common.quadratic(params, targets)                   -- grad_i = 2 * (p_i - t_i)
local graphids = require "graphids"
local skip = require "skip"

local M = {}

M.F64 = { dtype = "f64" }

M.has_requires_grad = pcall(function()
  local x = graphids.zeros(1):requires_grad_()
  assert(x.requires_grad == true and x.is_leaf == true)
end)

M.can_set_grad = M.has_requires_grad and pcall(function()
  local x = graphids.zeros(2):requires_grad_()
  x.grad = graphids.ones(2)
  assert(x.grad ~= nil)
  x.grad = nil
  assert(x.grad == nil)
end)

-- backward through the ops a quadratic loss needs (sub, mul, sum)
M.can_backward = M.has_requires_grad and pcall(function()
  local x = graphids.tensor({ 1.0, 2.0 }, M.F64):requires_grad_()
  local d = x - 0.5
  local loss = (d * d):sum()
  loss:backward()
  assert(x.grad ~= nil and x.grad:totable()[2] == 3.0)
end)

-- True (after printing the reason) when grads can be neither set nor computed here.
function M.skip_without_grads()
  if not M.has_requires_grad then
    skip.skip("graphids.optim specs: the binding has no requires_grad yet " ..
      "(t:requires_grad_(), t.is_leaf, t.grad)")
    return true
  end
  return skip.unless(M.can_set_grad or M.can_backward,
    "graphids.optim specs: neither t.grad = g nor backward() works in the binding yet")
end

-- A leaf parameter (f64 unless opts say otherwise) that requires grad.
function M.param(values, opts)
  return graphids.tensor(values, opts or M.F64):requires_grad_()
end

local function nograd(f)
  if graphids.no_grad then return graphids.no_grad(f) end
  return f()
end

-- grads of loss = sum_i sum((p_i - t_i)^2), accumulated into p_i.grad (2 * (p_i - t_i), which
-- backward and the hand computation give alike): by backward() where the binding has it,
-- else set by hand.
function M.quadratic(params, targets)
  if M.can_backward then
    local loss
    for i, p in ipairs(params) do
      local d = p - targets[i]
      local l = (d * d):sum()
      loss = loss and loss + l or l
    end
    loss:backward()
    return
  end
  nograd(function()
    for i, p in ipairs(params) do
      local g = (p:clone() - targets[i]) * 2
      p.grad = p.grad and p.grad + g or g
    end
  end)
end

-- Sets p.grad to a copy of g (by hand, or as the grad of sum(p * g)); p.grad must be nil.
function M.give_grad(p, g)
  if M.can_set_grad then
    p.grad = g:clone()
  else
    (p * g):sum():backward()
  end
end

-- Detached copies of tensors (a snapshot to compare against later).
function M.clones(ts)
  local out = {}
  for i, t in ipairs(ts) do out[i] = t:detach():clone() end
  return out
end

-- Every tensor of a bit-identical to its partner in b (dtype, shape and bytes).
function M.same(a, b)
  assert(#a == #b, "lists of different lengths")
  for i = 1, #a do
    local same = a[i].dtype == b[i].dtype and table.concat(a[i].shape, ",") ==
        table.concat(b[i].shape, ",") and a[i]:tobytes() == b[i]:tobytes()
    assert(same, "tensor " .. i .. " differs:\n" .. tostring(a[i]) .. "\n" .. tostring(b[i]))
  end
end

-- The two parameters of the RMSprop and Adagrad references (torch's p1 [3] and p2 [2, 2]).
function M.small_params(dtype)
  local o = { dtype = dtype or "f64" }
  return { graphids.tensor({ 1.0, -2.0, 3.0 }, o):requires_grad_(),
    graphids.tensor({ { 0.5, -0.5 }, { 1.5, 2.0 } }, o):requires_grad_() }
end

-- steps of opt on the quadratic toward 0.5 and -1.0 (the references' loss).
function M.train_small(opt, ps, steps)
  for _ = 1, steps do
    opt:zero_grad()
    M.quadratic(ps, { 0.5, -1.0 })
    opt:step()
  end
end

-- The seven parameter values in torch's order (p1, then p2 row by row).
function M.flat_small(ps)
  local out = {}
  for _, v in ipairs(ps[1]:totable()) do out[#out + 1] = v end
  for _, row in ipairs(ps[2]:totable()) do
    for _, v in ipairs(row) do out[#out + 1] = v end
  end
  return out
end

return M
