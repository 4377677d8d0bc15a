-- train_bench.lua -- one training step (forward + backward + AdamW) of the two models of
-- bench/peer/torch_train.py, timed the same way (median of REPS steps after WARMUP, wall clock).
--   lua5.4 bench/train/train_bench.lua [PEER_FILE]
-- PEER_FILE holds torch_train.py's "name value unit" lines; each row then prints
-- "name value unit ratio target" with ratio = torch time / graphids time (target 1.0: graphids
-- no slower than PyTorch on the same threads), or "-" without a peer figure.
local graphids = require "graphids"
local system = require "system" -- luasystem (a busted dependency): a monotonic wall clock

local ok_nn, nn = pcall(require, "graphids.nn")
local ok_optim, optim = pcall(require, "graphids.optim")
if not (ok_nn and ok_optim and graphids.Tensor.backward) then
  io.stderr:write("skipped: train_bench needs graphids.nn, graphids.optim and autograd\n")
  return
end
local F = nn.functional

local WARMUP, REPS = 3, 9
local NODES, LAYERS, CHANNELS = 2048, 3, 256

local peer = {}
if arg and arg[1] then
  local f = io.open(arg[1], "r")
  if f then
    for line in f:lines() do
      local name, value = line:match("^(%S+)%s+(%S+)")
      if name then peer[name] = tonumber(value) end
    end
    f:close()
  end
end

local function median_ms(step)
  for _ = 1, WARMUP do step() end
  local runs = {}
  for r = 1, REPS do
    local t0 = system.monotime()
    step()
    runs[r] = (system.monotime() - t0) * 1e3
  end
  table.sort(runs)
  return runs[(REPS + 1) // 2]
end

local function row(name, ms, what)
  local p = peer[name]
  local ratio = p and string.format("%.3f", p / ms) or "-"
  print(string.format("%s %.3f ms %s 1.0 (%s)", name, ms, ratio, what))
end

local function mlp_step()
  local model = nn.Sequential(nn.Linear(35, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
    nn.Linear(256, 2))
  local opt = optim.AdamW(model:parameters(), { lr = 1e-3 })
  local x, y = graphids.randn(4096, 35), graphids.randint(0, 2, { 4096 })
  return function()
    opt:zero_grad()
    F.cross_entropy(model(x), y):backward()
    opt:step()
  end
end

local function jk_lstm_step()
  local hidden = LAYERS * CHANNELS // 2
  local lstm = nn.LSTM(CHANNELS, hidden, { bidirectional = true, batch_first = true })
  local att = nn.Linear(2 * hidden, 1)
  local params = {}
  for _, m in ipairs({ lstm, att }) do
    for _, p in ipairs(m:parameters()) do params[#params + 1] = p end
  end
  local opt = optim.AdamW(params, { lr = 1e-3 })
  local xs = graphids.randn(NODES, LAYERS, CHANNELS, { requires_grad = true })
  return function()
    opt:zero_grad()
    xs.grad = nil
    local out = lstm(xs)
    local alpha = graphids.softmax(att(out):squeeze(-1), -1)
    local h = (xs * alpha:unsqueeze(-1)):sum(2)
    local loss = (h * h):mean()
    loss:backward()
    opt:step()
  end
end

graphids.manual_seed(1)
row("train_mlp_step_ms", median_ms(mlp_step()),
  "MLP 35-256-256-2 batch 4096, CE, fwd+bwd+AdamW")
row("train_jk_lstm_step_ms", median_ms(jk_lstm_step()),
  string.format("JK-LSTM 256->384 bi, seq %d, %d nodes, fwd+bwd+AdamW", LAYERS, NODES))
