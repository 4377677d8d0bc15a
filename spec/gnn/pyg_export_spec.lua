-- pyg_export_spec.lua -- weights move from graphids to PyTorch Geometric: a layer built and
-- randomised here is saved (state_dict with its own names, inputs, output), PyG 2.8 builds the
-- same class with the same options, loads the state_dict strictly and must reproduce the output
-- within relative error 1e-5.  (spec/gnn/fixtures_spec.lua covers the other direction.)
-- Needs the peer Python environment (tools/peer-venv.sh) and graphids.save_safetensors;
-- skips with the reason otherwise.  It never installs anything.
local cjson = require "cjson"
local graphids = require "graphids"
local nn = require "graphids.nn"
local skip = require "skip"
local env = require "specenv"

local python = env.PEER_PYTHON

-- For each (file, case) pair on stdin: loads the file, builds getattr(torch_geometric.nn,
-- cls)(*args, **kwargs), loads param.* with strict=True, runs forward on the inputs and prints
-- "<index> <relative error> <parameter count>".  One process for every case: importing PyG
-- takes seconds.
local PY = [==[
import json, sys, torch
from safetensors.torch import load_file
from torch_geometric import nn as gnn
def mlp(s):
    L = torch.nn.Linear
    return torch.nn.Sequential(L(s[0], s[1]), torch.nn.ReLU(), L(s[1], s[2]))
for i, line in enumerate(sys.stdin):
    path, case = line.split(" ", 1)
    t = load_file(path); case = json.loads(case)
    args = [mlp(case["mlp"])] if "mlp" in case else case["args"]
    m = getattr(gnn, case["cls"])(*args, **case["kwargs"])
    m.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("param.")}, strict=True)
    m.eval()
    with torch.no_grad():
        y = m(*[t[n] for n in case["forward"]])
    ref = t["y"]
    print("%d %.3e %d" % (i + 1, float((y - ref).abs().max() / ref.abs().max()),
          sum(p.numel() for p in m.parameters())), flush=True)
]==]

local function graph()
  return graphids.tensor({ { 0, 0, 1, 2, 3, 2, 4, 1, 3, 5, 4, 1 },
    { 1, 1, 2, 2, 2, 3, 3, 4, 1, 4, 5, 5 } }, { dtype = "i64" }), 7
end

local CASES = {
  { "GATConv", { 5, 4 }, { heads = 2, edge_dim = 3, residual = true } },
  { "GATv2Conv", { 5, 4 }, { heads = 2, edge_dim = 3 } },
  { "GATv2Conv", { 5, 4 }, { heads = 2, share_weights = true, concat = false } },
  { "TransformerConv", { 5, 4 }, { heads = 2, edge_dim = 3, beta = true } },
  { "GCNConv", { 5, 4 }, { improved = true } },
  { "GraphNorm", { 5 }, {} },
  { "SAGEConv", { 5, 4 }, { aggr = "max", project = true, normalize = true } },
  { "SAGEConv", { 5, 4 }, { aggr = "sum", root_weight = false, bias = false } },
  -- GINConv/GINEConv wrap Sequential(Linear(5, 8), ReLU, Linear(8, 4)) (the "mlp" sizes)
  { "GINConv", { 5, 8, 4 }, { train_eps = true }, mlp = true },
  { "GINConv", { 5, 8, 4 }, { eps = 0.5 }, mlp = true },
  { "GINEConv", { 5, 8, 4 }, { edge_dim = 3, train_eps = true }, mlp = true },
}

-- Builds and randomises one case, saves it, and returns the file and the JSON case line.
local function save_case(c, gen)
  local cls, args, kwargs = c[1], c[2], c[3]
  local m
  if c.mlp then
    m = nn[cls](nn.Sequential(nn.Linear(args[1], args[2]), nn.ReLU(), nn.Linear(args[2], args[3])),
      kwargs)
  else
    m = nn[cls](args[1], args[2], kwargs)
  end
  graphids.no_grad(function()
    for _, p in ipairs(m:parameters()) do
      p:copy_(graphids.randn(p.shape, { generator = gen }) * 0.5)
    end
  end)
  m:eval()
  local ei, N = graph()
  local tensors = { x = graphids.randn({ N, 5 }, { generator = gen }) }
  local forward = { "x" }
  if cls ~= "GraphNorm" then
    tensors.edge_index = ei
    forward[2] = "edge_index"
    if kwargs.edge_dim then
      tensors.edge_attr = graphids.randn({ ei:size(2), kwargs.edge_dim }, { generator = gen })
      forward[3] = "edge_attr"
    end
  end
  local ins = {}
  for i, n in ipairs(forward) do ins[i] = tensors[n] end
  tensors.y = graphids.no_grad(function() return m(table.unpack(ins)) end)
  local sd = m:state_dict()
  for _, k in ipairs(sd:keys()) do
    tensors["param." .. k] = sd:get(k):contiguous()
  end
  local path = os.tmpname()
  graphids.save_safetensors(path, tensors)
  return path, cjson.encode({ cls = cls, args = not c.mlp and args or nil, mlp = c.mlp and args or nil,
    kwargs = kwargs, forward = forward }), m:num_parameters()
end

describe("graph layers export their weights to PyTorch Geometric", function()
  if skip.unless(graphids.save_safetensors ~= nil, "graphids.save_safetensors is not available")
    or skip.unless(env.peer_has("torch_geometric, safetensors"),
      "the peer Python environment with torch_geometric is absent (" .. python .. ")") then
    return
  end
  local results, counts, log
  local function run_all()
    if results then return end
    local gen = graphids.Generator(31)
    local lines, paths = {}, {}
    counts = {}
    for i, c in ipairs(CASES) do
      local path, case, n = save_case(c, gen)
      paths[i], counts[i] = path, n
      lines[i] = path .. " " .. case
    end
    local input = os.tmpname()
    local f = assert(io.open(input, "w"))
    f:write(table.concat(lines, "\n"), "\n")
    f:close()
    local p = io.popen(string.format("'%s' -c '%s' < '%s' 2>&1", python, PY, input))
    log = p:read("a")
    p:close()
    os.remove(input)
    for _, path in ipairs(paths) do os.remove(path) end
    results = {}
    for i, rel, n in log:gmatch("(%d+) ([%d.eE+-]+) (%d+)") do
      results[tonumber(i)] = { tonumber(rel), tonumber(n) }
    end
  end
  for i, c in ipairs(CASES) do
    it(c[1] .. " " .. cjson.encode(c[3]) .. " reproduces in PyG", function()
      run_all()
      local r = results[i]
      assert(r, "PyG failed:\n" .. log)
      assert.is_true(r[1] <= 1e-5, c[1] .. ": relative error " .. r[1])
      assert.are.equal(counts[i], r[2])
    end)
  end
end)
