-- fixtures_spec.lua -- graphids.models against the PyTorch Geometric builds of the reference's
-- models (spec/fixtures/models/, written by tools/make_model_fixtures.py): the same weights, the
-- same batch (parallel edges, self-loops, isolated nodes, a one-node graph) and the same
-- training-step draws give the same forward outputs, losses, parameter gradients, eval scores
-- and fusion features within relative error 1e-5 (f32), and the same parameter names and count.
local cjson = require "cjson"
local fx = require "fixtures"
local safetensors = require "safetensors"

local DIR = "spec/fixtures/models/"

local function read_index()
  local f = assert(io.open(DIR .. "index.json", "rb"))
  local t = cjson.decode(f:read("a"))
  f:close()
  return t
end

local function index()
  return read_index().models
end

local function load(name)
  local f = assert(safetensors.load(DIR .. name .. ".safetensors"))
  return f.tensors, f.names, fx.ints(cjson.decode(f.metadata.case))
end

local function batch_of(t, case)
  return { x = t["input.x"], edge_index = t["input.edge_index"], edge_attr = t["input.edge_attr"],
    node_id = t["input.node_id"], batch = t["input.batch"], y = t["input.y"],
    num_graphs = case.num_graphs }
end

-- The model of a case with the fixture's weights; checks names and count into errs.
local function build(t, names, case, errs)
  local models = require "graphids.models"
  local hp = case.hparams
  if hp.pool_aggrs then
    -- cjson decodes JSON arrays as plain tables already; keep as is
    hp.pool_aggrs = { table.unpack(hp.pool_aggrs) }
  end
  local m = models.resolve(case.class_path)(hp)
  local res = m:load_state_dict(fx.state_dict(t, names), { strict = false })
  for _, k in ipairs(res.missing_keys) do
    if not k:match("^loss_fn%.") and not k:match("^svdd_") then
      errs[#errs + 1] = "state_dict: missing " .. k
    end
  end
  for _, k in ipairs(res.unexpected_keys) do
    errs[#errs + 1] = "state_dict: unexpected " .. k
  end
  local plist = fx.named_parameters(m)
  if table.concat(plist, " ") ~= table.concat(case.params, " ") then
    errs[#errs + 1] = string.format("named_parameters: {%s}, PyG has {%s}",
      table.concat(plist, ", "), table.concat(case.params, ", "))
  end
  if m:num_parameters() ~= case.num_parameters then
    errs[#errs + 1] = string.format("num_parameters %d, PyG %d", m:num_parameters(),
      case.num_parameters)
  end
  return m
end

-- Gradients that are zero in exact arithmetic (a bias added before a softmax: JK's att.bias,
-- TransformerConv's lin_key.bias) come out as rounding noise (~1e-10) on both sides, where a
-- relative error means nothing; those must stay below ZERO in absolute value instead.
local ZERO = 1e-8

-- A parameter's gradient is a sum of terms as large as the model's largest gradients, so its
-- rounding error (f32, and BLAS kernels that differ by CPU: OpenBLAS picks them at run time) is
-- on their scale, not on its own: a gradient that cancels to a thousandth of the largest one
-- is compared relative to a hundredth of that largest one instead (with OpenBLAS's Haswell
-- kernels one of the GAT's attention vectors came out within 3e-10 of PyG's, 1.4e-5 of its own
-- 2.3e-5 magnitude).
local GRAD_FLOOR = 1e-2

local function check_grads(errs, t, m)
  local largest = 0
  for name in m:named_parameters() do
    local want = t["grad.param." .. name]
    if want then largest = math.max(largest, want:abs():amax():item()) end
  end
  for name, p in m:named_parameters() do
    local want = t["grad.param." .. name]
    local scale = want and want:abs():amax():item()
    if want and scale <= ZERO then
      local got = p.grad and p.grad:abs():amax():item() or 0
      if got > ZERO then
        errs[#errs + 1] = string.format("grad.param.%s: %.3g, expected ~0", name, got)
      end
    elseif want then
      fx.check(errs, "grad.param." .. name, p.grad, want,
        fx.TOL * math.max(1, GRAD_FLOOR * largest / scale))
    end
  end
end

local RUN = {}

function RUN.GATClassifier(t, m, b, errs)
  m:train()
  local logits, emb = m(b)
  fx.check(errs, "output.logits", logits, t["output.logits"])
  fx.check(errs, "output.embedding", emb, t["output.embedding"])
  local loss = m:training_step(b, {})
  fx.check(errs, "output.loss", loss, t["output.loss"])
  loss:backward()
  check_grads(errs, t, m)
  m:eval()
  fx.check(errs, "output.features", m:extract_features(b), t["output.features"])
  fx.check(errs, "output.scores", m:test_step(b).scores, t["output.scores"])
end

function RUN.VGAE(t, m, b, errs)
  m:train()
  local ctx = { mask = t["draw.mask"], eps = t["draw.eps"], neg_ids = t["draw.neg_ids"] }
  local out = m(b, ctx)
  for _, k in ipairs({ "cont", "canid_logits", "nbr_logits", "z", "kl" }) do
    fx.check(errs, "output." .. k, out[k], t["output." .. k])
  end
  local loss, logs = m:training_step(b, ctx)
  fx.check(errs, "output.loss", loss, t["output.loss"])
  for _, k in ipairs({ "recon", "canid", "nbr", "kl" }) do
    fx.check(errs, "output.loss_" .. k, logs["train_" .. k],
      t["output.loss_" .. k])
  end
  loss:backward()
  check_grads(errs, t, m)
  m:eval()
  fx.check(errs, "output.scores", m:test_step(b).scores, t["output.scores"])
  fx.check(errs, "output.features", m:extract_features(b), t["output.features"])
end

function RUN.DGI(t, m, b, errs)
  m:train()
  local ctx = { perm = t["draw.perm"] }
  local out = m(b, ctx)
  fx.check(errs, "output.pos_z", out.pos_z, t["output.pos_z"])
  fx.check(errs, "output.neg_z", out.neg_z, t["output.neg_z"])
  fx.check(errs, "output.summary", out.summary, t["output.summary"])
  local loss = m:training_step(b, ctx)
  fx.check(errs, "output.loss", loss, t["output.loss"])
  loss:backward()
  check_grads(errs, t, m)
  m:eval()
  fx.check(errs, "output.svdd_center", m:calibrate_svdd({ b }), t["output.svdd_center"])
  fx.check(errs, "output.scores", m:test_step(b).scores, t["output.scores"])
  fx.check(errs, "output.features", m:extract_features(b), t["output.features"])
end

describe("graphids.models against PyTorch Geometric", function()
  for _, name in ipairs(index()) do
    it(name .. " matches outputs, losses, gradients and parameter counts", function()
      local t, names, case = load(name)
      local errs = {}
      local m = build(t, names, case, errs)
      local kind = case.class_path:match("([^.]+)$")
      RUN[kind](t, m, batch_of(t, case), errs)
      assert(#errs == 0, name .. ":\n  " .. table.concat(errs, "\n  "))
    end)
  end
end)

describe("the presets", function()
  it("have PyTorch Geometric's parameter counts at set_01's vocabulary size", function()
    local models = require "graphids.models"
    local idx = read_index()
    local num_ids = math.tointeger(idx.preset_num_ids)
    local classes = { gat = models.GATClassifier, vgae = models.VGAE, dgi = models.DGI }
    local names = {}
    for k in pairs(idx.preset_parameters) do names[#names + 1] = k end
    table.sort(names)
    assert.equal(6, #names)
    for _, name in ipairs(names) do
      local family, scale = name:match("^(%a+)%.(%a+)$")
      local m = classes[family](models.presets[family][scale]({ num_ids = num_ids }))
      assert.equal(math.tointeger(idx.preset_parameters[name]), m:num_parameters(), name)
    end
  end)
end)
