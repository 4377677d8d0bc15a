-- mlp_xor.lua -- the worked example: a small MLP (2 -> 16 -> 1, tanh) learns XOR with AdamW.
--   build/bin/graphids run recipes/examples/mlp_xor.lua [epochs]
--   > dofile "recipes/examples/mlp_xor.lua"          (from the REPL, in the repository root)
-- Prints the loss every 50 epochs and the final predictions; raises (so `graphids run` exits 1)
-- when the loss has not fallen below 0.01 or a prediction is on the wrong side of 0.5.
-- Returns the trained model and its final loss.
local graphids = require "graphids"
local nn = require "graphids.nn"
local optim = require "graphids.optim"
local F = nn.functional

local epochs = math.tointeger(tonumber(... or 400)) or 400

graphids.manual_seed(0)
local x = graphids.tensor({ { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } }, { dtype = "f32" })
local y = graphids.tensor({ { 0 }, { 1 }, { 1 }, { 0 } }, { dtype = "f32" })

local model = nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1))
local opt = optim.AdamW(model:parameters(), { lr = 0.05, weight_decay = 1e-4 })
print(model)

local loss
for epoch = 1, epochs do
  opt:zero_grad()
  loss = F.binary_cross_entropy_with_logits(model(x), y)
  loss:backward()
  opt:step()
  if epoch == 1 or epoch % 50 == 0 then
    print(string.format("epoch %4d  loss %.6f", epoch, loss:item()))
  end
end

local final = loss:item()
local probs = graphids.no_grad(function()
  return graphids.sigmoid(model(x)):totable()
end)
local wrong = 0
for i, row in ipairs(x:totable()) do
  local want = y:totable()[i][1]
  local p = probs[i][1]
  if (p > 0.5) ~= (want == 1) then wrong = wrong + 1 end
  print(string.format("%d xor %d -> %.4f  (want %d)", row[1], row[2], p, want))
end
if final >= 0.01 or wrong > 0 then
  error(string.format("mlp_xor: did not converge in %d epochs (loss %.4g, %d wrong)", epochs,
    final, wrong), 0)
end
print(string.format("converged: loss %.6f after %d epochs", final, epochs))
return model, final
