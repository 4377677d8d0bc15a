-- linear_regression.lua -- a worked example without autograd: fit y = Xw + b
-- by gradient descent with hand-written gradients, on data drawn from a known model, and check
-- that the fit recovers it.  Exits non-zero if it does not.
local graphids = require "graphids"

graphids.manual_seed(42)
local n, d = 4096, 8
local true_w = graphids.linspace(-1, 1, d):view(d, 1)
local true_b = 0.5
local X = graphids.randn(n, d)
local noise = graphids.randn(n, 1) * 0.01
local y = X:matmul(true_w) + true_b + noise

local w = graphids.zeros(d, 1)
local b = 0.0
local lr = 0.1
local t0 = os.clock()
for step = 1, 200 do
  local err = X:matmul(w) + b - y             -- [n, 1]
  local loss = (err * err):mean():item()
  local grad_w = X:t():matmul(err) * (2 / n)  -- d loss / d w
  local grad_b = err:mean():item() * 2
  w:sub_(grad_w * lr)
  b = b - lr * grad_b
  if step == 1 or step % 50 == 0 then
    print(string.format("step %3d  loss %.6f", step, loss))
  end
end

local w_err = (w - true_w):abs():amax():item()
print(string.format("fitted in %.3f s: max |w - w*| = %.2e, b = %.4f (b* = %.1f)", os.clock() - t0,
  w_err, b, true_b))
collectgarbage()
print(graphids.memory().live_tensors .. " live tensors after a GC (X, y, noise, w, w*)")
if w_err > 1e-2 or math.abs(b - true_b) > 1e-2 then
  io.stderr:write("linear_regression: the fit did not recover the model\n")
  os.exit(1)
end
