-- gnn_profile.lua -- where one GAT classifier training step spends its time (the rows of
-- gnn_bench.lua, without the peer).
--   graphids run bench/gnn/gnn_profile.lua [THREADS [SIZE [GRAPHS]]]   (from the project root)
-- SIZE small | large (default small), GRAPHS the batch size (default 32).  Prints the median
-- ms over GNN_REPS steps (default 7, after 2 warm-up steps) of each forward part (the model's
-- submodules, timed by wrapping their forward), the loss, the backward and the Adam step.
-- GNN_DEVICE=cuda runs it on the GPU, synchronising around each timed part; GNN_BATCH_DIR reads
-- the batch from bench/gpu/write_batches.lua's files (the GPU machine has no data).
-- GNN_MEMORY=1 prints each step's peak memory (see memory() below).  GNN_HOST=1 times the host
-- alone (no synchronisation): how long the host takes to issue each part's work to the device.
package.path = "bench/gnn/?.lua;" .. package.path
local graphids = require "graphids"
local models = require "graphids.models"
local optim = require "graphids.optim"
local graphs = require "graphs"

local threads = tonumber(arg[1]) or graphids.get_num_threads()
graphids.set_num_threads(threads)
local size = arg[2] or "small"
local g = tonumber(arg[3]) or 32
local REPS = tonumber(os.getenv("GNN_REPS") or "") or 7
local device = os.getenv("GNN_DEVICE") or "cpu"
local bdir = os.getenv("GNN_BATCH_DIR")

-- A wall clock that waits for the device first (unless GNN_HOST=1).
local sync = device ~= "cpu" and os.getenv("GNN_HOST") ~= "1"
local function now()
  if sync then graphids.gpu.synchronize() end
  return graphids.clock()
end

graphids.manual_seed(1)
local b = bdir and graphs.load(bdir, g) or graphs.batch(g)
local m = models.GATClassifier(models.presets.gat[size]({ num_ids = graphs.num_ids(b) }))
m:to(device)
b = b:to(device)
m:train()
local opt = optim.Adam(m:parameters(), { lr = 1e-3 })

local times, order = {}, {}
local function add(name, ms)
  if not times[name] then
    times[name] = {}
    order[#order + 1] = name
  end
  local t = times[name]
  t[#t + 1] = ms
end

-- Times every call of module mod's forward under `name` (an instance field shadows the class's).
local function wrap(name, mod)
  local f = mod.forward
  rawset(mod, "forward", function(...)
    local t0 = now()
    local r = table.pack(f(...))
    add(name, (now() - t0) * 1e3)
    return table.unpack(r, 1, r.n)
  end)
end

wrap("input_encoder", m.input_encoder)
for i, conv in ipairs(m.convs) do wrap("conv" .. i, conv) end
wrap("jk", m.jk)
if m.jk.lstm then wrap("jk.lstm", m.jk.lstm) end
for i, layer in ipairs(m.fc_layers) do wrap("fc" .. i, layer) end

-- GNN_MEMORY=1: each step's peak bytes (CPU: since the step began; GPU: the running peak,
-- as graphids.gpu has no peak reset short of gpu.reset) and what stays allocated after it.
local trace_memory = os.getenv("GNN_MEMORY") == "1"
local function memory()
  if device == "cpu" then
    local s = graphids.memory()
    return s.peak_bytes, s.current_bytes
  end
  local s = graphids.gpu.memory()
  return s.peak, s.allocated
end

local function step(record)
  if trace_memory and device == "cpu" then graphids.reset_peak_memory() end
  local t0 = now()
  opt:zero_grad()
  local logits = m(b)
  local t1 = now()
  local loss = m:_loss(b, logits)
  local t2 = now()
  loss:backward()
  local t3 = now()
  opt:step()
  local t4 = now()
  if trace_memory then
    local peak, current = memory()
    print(string.format("  memory: peak %.0f MiB, %.0f MiB after the step", peak / 2 ^ 20,
      current / 2 ^ 20))
  end
  if record then
    add("forward (all)", (t1 - t0) * 1e3)
    add("loss", (t2 - t1) * 1e3)
    add("backward", (t3 - t2) * 1e3)
    add("adam", (t4 - t3) * 1e3)
    add("step (total)", (t4 - t0) * 1e3)
  end
end

for _ = 1, 2 do step(false) end
times, order = {}, {}
for _ = 1, REPS do step(true) end
print(string.format("GAT %s, %d graphs, %s, %d threads: median ms over %d steps", size, g,
  device, threads, REPS))
for _, name in ipairs(order) do
  local t = times[name]
  table.sort(t)
  -- a module called k times a step has k * REPS samples: report its per-step total
  local per = #t // REPS
  print(string.format("  %-16s %9.3f%s", name, t[(#t + 1) // 2] * per,
    per > 1 and string.format("  (%d calls)", per) or ""))
end
