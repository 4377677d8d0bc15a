-- module_spec.lua -- graphids.nn.Module and the containers: registration order and names as
-- torch's state_dict keys, state_dict round trips, load_state_dict errors, train/eval, to(),
-- the printed tree, and error messages naming the failing child's path.
local graphids = require "graphids"
local class = require "graphids.class"
local nn = require "graphids.nn"
local helpers = require "helpers"
local errors = helpers.errors
local errors_at_caller = helpers.errors_at_caller

local function names_of(iter)
  local out = {}
  for name in iter do
    out[#out + 1] = name
  end
  return out
end

-- A custom module: an own parameter, a buffer, a child list and a child.
local Net = class("Net", nn.Module)

function Net:__init()
  nn.Module.__init(self)
  self:register_parameter("scale", graphids.ones(2))
  self.layers = nn.ModuleList({ nn.Linear(3, 4), nn.Linear(4, 2) })
  self:register_buffer("steps", graphids.zeros({}, { dtype = "i64" }))
  self.norm = nn.LayerNorm(2)
end

function Net:forward(x)
  for _, layer in ipairs(self.layers) do
    x = layer(x)
  end
  return self.norm(x) * self.scale
end

describe("graphids.nn.Module", function()
  it("names parameters as torch's state_dict keys, own before children, depth first", function()
    local net = Net()
    assert.same({ "scale", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias",
      "norm.weight", "norm.bias" }, names_of(net:named_parameters()))
    local params = net:parameters()
    assert.equal(7, #params)
    assert.equal(net.layers[1].weight, params[2])
    assert.equal(net.norm.bias, params[7])
    for _, p in ipairs(params) do
      assert.is_true(p.requires_grad)
      assert.is_true(p.is_leaf)
    end
    assert.same({ "steps" }, names_of(net:named_buffers()))
    assert.same({ "", "layers", "layers.0", "layers.1", "norm" }, names_of(net:named_modules()))
    assert.same({ "layers", "norm" }, names_of(net:named_children()))
    assert.equal(2, #net:children())
    assert.equal(5, #net:modules())
    assert.same({ "scale" }, names_of(net:named_parameters({ recurse = false })))
    -- 2 + (12 + 4) + (8 + 2) + (2 + 2)
    assert.equal(32, net:num_parameters())
  end)

  it("orders state_dict as torch: own parameters, own buffers, then each child", function()
    local net = Net()
    local sd = net:state_dict()
    assert.same({ "scale", "steps", "layers.0.weight", "layers.0.bias", "layers.1.weight",
      "layers.1.bias", "norm.weight", "norm.bias" }, sd:keys())
    assert.equal(8, #sd)
    assert.same({ 4, 3 }, sd["layers.0.weight"].shape)
    assert.equal(sd["layers.0.weight"], sd:get("layers.0.weight"))
    local seen = {}
    for name, t in sd:items() do
      seen[#seen + 1] = name
      assert.is_true(graphids.is_tensor(t))
      assert.is_false(t.requires_grad)
    end
    assert.same(sd:keys(), seen)
  end)

  it("counts a parameter shared by two children once", function()
    local a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight = a.weight
    local seq = nn.Sequential(a, b)
    assert.same({ "0.weight", "0.bias", "1.bias" }, names_of(seq:named_parameters()))
    assert.equal(4 + 2 + 2, seq:num_parameters())
    -- a module reached twice is listed once; state_dict keeps both names, as torch does
    local twice = nn.Sequential(a, a)
    assert.same({ "0.weight", "0.bias" }, names_of(twice:named_parameters()))
    assert.same({ "0.weight", "0.bias", "1.weight", "1.bias" }, twice:state_dict():keys())
  end)

  it("round-trips a state dict into a fresh module", function()
    local src, dst = Net(), Net()
    graphids.no_grad(function() src.scale:fill_(3) end)
    dst:load_state_dict(src:state_dict())
    for name, t in src:state_dict():items() do
      assert.is_true(graphids.equal(t, dst:state_dict()[name]), name)
    end
    local x = graphids.randn(5, 3)
    assert.is_true(graphids.equal(src(x), dst(x)))
    -- loading copies: changing the source afterwards leaves the destination alone
    graphids.no_grad(function() src.scale:fill_(5) end)
    assert.equal(3, dst.scale:select(1, 1):item())
    -- a plain table name -> tensor is accepted too
    local plain = {}
    for name, t in src:state_dict():items() do
      plain[name] = t
    end
    dst:load_state_dict(plain)
    assert.equal(5, dst.scale:select(1, 1):item())
    assert.is_true(dst.scale.requires_grad)
  end)

  it("lists missing keys, unexpected keys and shape mismatches in one error", function()
    local m = nn.Sequential(nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1))
    local sd = m:state_dict()
    sd:remove("2.bias")
    sd:set("extra.weight", graphids.zeros(1))
    sd:set("0.weight", graphids.zeros(3, 2))
    local ok, err = pcall(m.load_state_dict, m, sd)
    assert.is_false(ok)
    assert.matches("load_state_dict: Error%(s%) in loading state_dict for Sequential:", err)
    assert.matches('Missing key%(s%) in state_dict: "2%.bias"%.', err)
    assert.matches('Unexpected key%(s%) in state_dict: "extra%.weight"%.', err)
    assert.matches("size mismatch for 0%.weight: copying a param with shape %[3, 2%] from " ..
      "checkpoint, the shape in current model is %[2, 3%]", err)
    -- nothing was copied
    assert.is_false(graphids.equal(m[1].weight, graphids.zeros(2, 3)))
  end)

  it("allows missing and unexpected keys with strict=false but never a shape mismatch", function()
    local m = nn.Linear(3, 2)
    local res = m:load_state_dict({ weight = graphids.ones(2, 3), other = graphids.ones(1) },
      { strict = false })
    assert.same({ "bias" }, res.missing_keys)
    assert.same({ "other" }, res.unexpected_keys)
    assert.is_true(graphids.equal(m.weight, graphids.ones(2, 3)))
    errors("size mismatch for weight: copying a param with shape %[3%] from checkpoint, the " ..
      "shape in current model is %[2, 3%]", m.load_state_dict, m, { weight = graphids.ones(3) },
      { strict = false })
    errors("load_state_dict: unknown option 'strct' %(did you mean 'strict'%?%)", m.load_state_dict,
      m, {}, { strct = true })
  end)

  it("switches training mode on every descendant", function()
    local net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(2)))
    assert.is_true(net.training)
    assert.equal(net, net:eval())
    for _, m in ipairs(net:modules()) do
      assert.is_false(m.training)
    end
    net:train()
    for _, m in ipairs(net:modules()) do
      assert.is_true(m.training)
    end
    net:train(false)
    assert.is_false(net[2][2].training)
  end)

  it("train/eval call each child's own train, so an override is obeyed (as torch)", function()
    -- a block that keeps its BatchNorm frozen (running statistics fixed) whatever the mode
    local Frozen = class("Frozen", nn.Module)
    function Frozen:__init()
      nn.Module.__init(self)
      self.fc = nn.Linear(2, 2)
      self.bn = nn.BatchNorm1d(2)
    end
    function Frozen:train(mode)
      nn.Module.train(self, mode)
      self.bn:eval()
      return self
    end
    function Frozen:forward(x) return self.bn(self.fc(x)) end
    local calls = 0
    local Counted = class("Counted", nn.Module)
    function Counted:train(mode)
      calls = calls + 1
      return nn.Module.train(self, mode)
    end
    local counted = Counted()
    local net = nn.Sequential(nn.Sequential(Frozen()), counted, counted)
    assert.equal(net, net:train())
    local frozen = net[1][1]
    assert.is_true(net.training and net[1].training and frozen.training and frozen.fc.training)
    assert.is_false(frozen.bn.training)
    assert.equal(1, calls) -- a child registered twice in one module is called once
    net:eval()
    assert.is_false(frozen.training or frozen.fc.training or frozen.bn.training)
    assert.equal(2, calls)
    net:train()
    assert.is_false(frozen.bn.training)
    -- the frozen BatchNorm normalises with its running statistics in training mode too
    local before = frozen.bn.running_mean:clone()
    frozen(graphids.tensor({ { 1.0, 2.0 }, { 3.0, 4.0 } }))
    assert.is_true(graphids.equal(before, frozen.bn.running_mean))
  end)

  it("train/eval changes what Dropout and BatchNorm1d do", function()
    local drop = nn.Dropout(0.5)
    local x = graphids.ones(1000)
    local y = drop(x)
    local zeros = y:eq(0):sum():item()
    assert.is_true(zeros > 350 and zeros < 650, "zeros: " .. zeros)
    assert.is_true(y:eq(0):logical_or(y:eq(2)):all():item())
    drop:eval()
    assert.equal(x, drop(x))

    local bn = nn.BatchNorm1d(1)
    local b = graphids.tensor({ { 1.0 }, { 3.0 } })
    helpers.near(bn(b):totable(), { { -1 / math.sqrt(1 + 1e-5) }, { 1 / math.sqrt(1 + 1e-5) } },
      1e-6)
    bn:eval()
    -- running stats after one batch: mean 0.1 * 2, var 0.9 + 0.1 * 2 (unbiased)
    local rm, rv = 0.2, 0.9 + 0.2
    helpers.near(bn(b):totable(), { { (1 - rm) / math.sqrt(rv + 1e-5) },
      { (3 - rm) / math.sqrt(rv + 1e-5) } }, 1e-6)
  end)

  it("converts parameters and float buffers with to(), keeping them leaves", function()
    local net = Net()
    local w = net.layers[1].weight:clone()
    assert.equal(net, net:to("f64"))
    for name, p in net:named_parameters() do
      assert.equal("f64", p.dtype, name)
      assert.is_true(p.requires_grad)
      assert.is_true(p.is_leaf)
    end
    assert.equal("i64", net.steps.dtype)
    assert.is_true(graphids.allclose(net.layers[1].weight, w:double()))
    local y = net(graphids.randn(2, 3, { dtype = "f64" }))
    assert.equal("f64", y.dtype)
    net:to({ dtype = "float32" })
    assert.equal("f32", net.scale.dtype)
    net:to("cpu", "f64")
    assert.equal("f64", net.scale.dtype)
    net:float()
    assert.equal("f32", net.scale.dtype)
    net:to("cpu")
    errors("not available", net.to, net, "cuda")
    errors("to: 'i64' %(a string%) is neither a device %(cpu, cuda, cuda:N%) nor a module dtype %(f32, f64",
      net.to, net, "i64")
    -- a mistyped device is not taken for a dtype, and a half dtype is named as such
    errors("to: 'cuda:x' %(a string%) is neither a device", net.to, net, "cuda:x")
    errors("nor a module dtype %(f32, f64; mixed precision is the trainer's precision option%)", net.to, net,
      "bf16")
    errors("to: device must be cpu, cuda or cuda:N, got 'gpu'", net.to, net, { device = "gpu" })
    errors("^to: device 'cuda' is not available", net.to, net, "cuda")
    -- the binding's refusal of a device, under to's name at the caller's line (a GPU machine
    -- says "device cuda:99 does not exist")
    helpers.errors_at_caller("^[^ ]+ to: device '?cuda:99'? ", net.to, net, "cuda:99")
  end)

  it("keeps tensors that to() does not change, and tied weights tied", function()
    local a, b = nn.Linear(3, 3), nn.Linear(3, 3)
    b.weight = a.weight -- tied: one tensor under two names
    local seq = nn.Sequential(a, b)
    local opt = graphids.optim.SGD(seq:parameters(), { lr = 0.1 })
    local w = a.weight
    seq:to("cpu")
    seq:to("f32")
    seq:float()
    assert.is_true(rawequal(w, a.weight)) -- an optimizer built before a no-op to() still trains
    local before = w:clone()
    seq(graphids.randn(2, 3)):sum():backward()
    opt:step()
    assert.is_false(graphids.equal(before, a.weight))
    assert.equal(3, #seq:parameters())
    seq:to("f64")
    assert.equal(3, #seq:parameters())
    assert.equal(15, seq:num_parameters())
    assert.is_true(rawequal(a.weight, b.weight))
    graphids.no_grad(function() a.weight:fill_(7) end)
    assert.equal(63, b.weight:sum():item())
  end)

  it("to() keeps a parameter a parameter when another module holds it as a buffer", function()
    local Holder = class("Holder", nn.Module)
    function Holder:__init(t, kind)
      nn.Module.__init(self)
      if kind == "parameter" then self:register_parameter("t", t) else self:register_buffer("t", t) end
    end
    local t = graphids.zeros(2)
    -- the buffer's module comes first in the walk: its conversion was reused for the parameter
    local seq = nn.Sequential(Holder(t, "buffer"), Holder(t, "parameter"))
    seq[2].t:sum():backward()
    seq:double()
    local p = seq[2].t
    assert.equal("f64", p.dtype)
    assert.is_true(p.requires_grad)
    assert.is_true(p.is_leaf)
    assert.equal("f64", p.grad.dtype) -- its grad converted with it
    assert.is_true(rawequal(p, seq[1].t)) -- still one tensor
    assert.same({ p }, seq:parameters())
  end)

  it("zero_grad removes gradients or zeroes them in place", function()
    local l = nn.Linear(2, 2)
    l(graphids.randn(3, 2)):sum():backward()
    local g = l.weight.grad
    l:zero_grad({ set_to_none = false })
    assert.equal(0, g:abs():sum():item()) -- zeroed in place: the handle read before sees it
    g:fill_(3)
    assert.equal(12, l.weight.grad:sum():item())
    errors("zero_grad: unknown option 'set_to_nil'", l.zero_grad, l, { set_to_nil = true })
  end)

  it("refuses a module assigned before nn.Module.__init(self), as torch", function()
    local Early = class("Early", nn.Module)
    function Early:__init()
      self.fc = nn.Linear(2, 2) -- the line the error names
      nn.Module.__init(self)
    end
    local ok, err = pcall(Early)
    assert.is_false(ok)
    assert.matches("^spec/nn/module_spec%.lua:%d+: Early: cannot assign module 'fc' before " ..
      "nn.Module.__init%(self%) is called", err)
    -- a plain value before init is a plain field, as torch's
    local Plain = class("Plain", nn.Module)
    function Plain:__init()
      self.width = 3
      nn.Module.__init(self)
    end
    assert.equal(3, Plain().width)
  end)

  it("names a registered field that was assigned a value of the wrong kind", function()
    local l = nn.Linear(2, 2)
    l.weight = 5 -- an existing field: a plain rawset that no metamethod sees
    errors("weight: registered as a parameter but holds 5 %(assign a tensor, or nil%)", l.parameters, l)
    errors("weight: registered as a parameter but holds 5", l.state_dict, l)
    local seq = nn.Sequential(nn.Linear(1, 1))
    seq["0"] = graphids.ones(1)
    errors("0: registered as a module but holds a tensor %(assign a Module, or nil%)", seq.modules, seq)
  end)

  it("refuses a value assigned to a parameter registered as nil; register_parameter trains it", function()
    local l = nn.Linear(2, 3, { bias = false })
    local ok, err = pcall(function() l.bias = graphids.zeros(3) end) -- the line the error names
    assert.is_false(ok)
    assert.matches("^spec/nn/module_spec%.lua:%d+: Linear: cannot assign a tensor to parameter 'bias' " ..
      '%(registered as nil%); use m:register_parameter%("bias", t%), which makes t a trainable parameter$',
      err)
    errors("Linear: cannot assign 5 to parameter 'bias'", function() l.bias = 5 end)
    assert.is_nil(l.bias)
    assert.equal(1, #l:parameters())
    l.bias = nil -- nil stays allowed
    l:register_parameter("bias", graphids.zeros(3))
    assert.is_true(l.bias.requires_grad)
    assert.equal(2, #l:parameters())
    -- over an existing parameter a field write is plain (no metamethod sees it): the tensor is
    -- kept as it is, so a fresh one does not train; register_parameter replaces it trainably
    l.weight = graphids.randn(3, 2)
    assert.is_false(l.weight.requires_grad)
    l:register_parameter("weight", graphids.randn(3, 2))
    assert.is_true(l.weight.requires_grad)
  end)

  it("lists a child registered twice once, prints it twice, and applies a function to it", function()
    local l = nn.Linear(2, 2)
    local seq = nn.Sequential(l, l)
    assert.equal(1, #seq:children())
    assert.equal(2, #seq)
    -- the printed tree shows it under each name, as torch's repr
    assert.equal("Sequential(\n  (0): Linear(in_features=2, out_features=2, bias=true)\n" ..
      "  (1): Linear(in_features=2, out_features=2, bias=true)\n)", tostring(seq))
    local calls = 0
    seq:apply(function() calls = calls + 1 end)
    assert.equal(2, calls) -- l, then seq (torch's count)
    -- a module under two parents is visited under each: torch 2.15 gives Linear, Sequential,
    -- Linear, Sequential, Linear, Sequential
    local order = {}
    nn.Sequential(nn.Sequential(l), nn.Sequential(l), l, l):apply(function(m)
      order[#order + 1] = class.name_of(m)
    end)
    assert.same({ "Linear", "Sequential", "Linear", "Sequential", "Linear", "Sequential" }, order)
  end)

  it("applies a function children first and clears gradients with zero_grad", function()
    local net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    local order = {}
    net:apply(function(m) order[#order + 1] = class.name_of(m) end)
    assert.same({ "Linear", "ReLU", "Sequential", "Sequential" }, order)
    local y = net(graphids.randn(3, 2)):sum()
    y:backward()
    assert.is_true(graphids.is_tensor(net[1].weight.grad))
    net:zero_grad()
    assert.is_nil(net[1].weight.grad)
    assert.is_nil(net[1].bias.grad)
  end)

  it("prints an indented tree like torch's repr", function()
    local m = nn.Sequential(nn.Linear(3, 1), nn.Sequential(nn.ReLU(), nn.Dropout(0.1)))
    assert.equal(table.concat({
      "Sequential(",
      "  (0): Linear(in_features=3, out_features=1, bias=true)",
      "  (1): Sequential(",
      "    (0): ReLU()",
      "    (1): Dropout(p=0.1)",
      "  )",
      ")" }, "\n"), tostring(m))
    assert.equal("Linear(in_features=3, out_features=1, bias=false)",
      tostring(nn.Linear(3, 1, { bias = false })))
    -- a module without extra_repr shows its own parameters' shapes
    assert.matches("^Net%(\n  scale=%[2%]\n  %(layers%): ModuleList%(\n    %(0%): Linear%(in_features=3",
      tostring(Net()))
  end)

  it("prefixes an error inside a child with the child's path, once", function()
    local inner = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(4, 2))
    local model = nn.Sequential(nn.Linear(3, 3), inner)
    local ok, err = pcall(model, graphids.randn(2, 3))
    assert.is_false(ok)
    assert.matches("^model%.1%.2: Linear: input of shape %[2, 3%] has last dim 3", err)
    local _, count = err:gsub("model%.", "")
    assert.equal(1, count)
    -- custom modules name their children by attribute (the line is Net:forward's, which called
    -- the layer; the path comes after it)
    local net = Net()
    ok, err = pcall(net, graphids.randn(2, 5))
    assert.is_false(ok)
    assert.matches("^spec/nn/module_spec%.lua:%d+: model%.layers%.0: Linear: ", err)
    -- the module called directly fails without a prefix
    ok, err = pcall(inner[3], graphids.randn(2, 3))
    assert.is_false(ok)
    assert.not_matches("^model", err)
    -- a forward that catches a child's error gets the message string, and what it caught
    -- leaves no trace on a later error
    local Fallback = class("Fallback", nn.Module)
    function Fallback:__init()
      nn.Module.__init(self)
      self.fc, self.fb = nn.Linear(4, 2), nn.Linear(3, 2)
    end
    function Fallback:forward(x)
      local fine, res = pcall(self.fc, x)
      if fine then return res end
      assert(type(res) == "string" and res:match("^Linear: input of shape"), tostring(res))
      return self.fb(x)
    end
    local f = Fallback()
    assert.same({ 5, 2 }, f(graphids.randn(5, 3)).shape)
    ok, err = pcall(f, graphids.randn(5, 7))
    assert.is_false(ok)
    assert.matches("^spec/nn/module_spec%.lua:%d+: model%.fb: Linear: input of shape %[5, 7%]", err)
    local _, n = err:gsub("model", "")
    assert.equal(1, n)
    -- an error object (not a string) passes through untouched
    local Obj = class("Obj", nn.Module)
    function Obj.forward() error({ code = 7 }) end
    ok, err = pcall(nn.Sequential(Obj()), graphids.randn(1))
    assert.is_false(ok)
    assert.same({ code = 7 }, err)
  end)

  -- docs/nn.md: a library layer's error is raised at the line of the user's code that called
  -- it, named by the layer, as a function's; one raised in the user's own forward keeps its line
  it("raises a library layer's error at the line that called it, a user forward's where it is", function()
    local SPEC = "spec/nn/module_spec.lua"
    local function error_of(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return err
    end
    local x = graphids.ones(2, 8)
    local msg = "Linear: input of shape %[2, 8%] has last dim 8, but weight of shape %[4, 16%] takes 16$"
    local lin = nn.Linear(16, 4)
    -- (each call below is a tail call of its function: the line is kept all the same)
    local line = debug.getinfo(1, "l").currentline + 1
    local err = error_of(function() return lin(x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": " .. msg, err)
    local seq = nn.Sequential(nn.ReLU(), nn.Sequential(nn.Linear(16, 4)))
    line = debug.getinfo(1, "l").currentline + 1
    err = error_of(function() return seq(x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": model%.1%.0: " .. msg, err)
    -- the layers' own refusals, and a module whose class defines no forward
    line = debug.getinfo(1, "l").currentline + 1
    err = error_of(function() return nn.LayerNorm(16)(x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": LayerNorm: normalized_shape %[16%] does not match", err)
    local Bare = class("Bare", nn.Module)
    line = debug.getinfo(1, "l").currentline + 1
    err = error_of(function() return Bare()(x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": Bare: forward is not defined", err)
    -- inside a user's forward: the line there that called the layer (a tail call too)
    local Wrap = class("Wrap", nn.Module)
    function Wrap:__init()
      nn.Module.__init(self)
      self.fc = nn.Linear(16, 4)
    end
    local fc_line = debug.getinfo(1, "l").currentline + 1
    function Wrap.forward(self_, y) return self_.fc(y) end
    err = error_of(function() return Wrap()(x) end)
    assert.matches("^" .. SPEC .. ":" .. fc_line .. ": model%.fc: " .. msg, err)
    err = error_of(function() return nn.Sequential(nn.Identity(), Wrap())(x) end)
    assert.matches("^" .. SPEC .. ":" .. fc_line .. ": model%.1%.fc: " .. msg, err)
    -- a user's own error keeps its position, also inside a library container
    local Own = class("Own", nn.Module)
    local own_line = debug.getinfo(1, "l").currentline + 1
    function Own.forward() error("Own: no input wanted") end
    err = error_of(function() return nn.Sequential(Own())(x) end)
    assert.matches("^" .. SPEC .. ":" .. own_line .. ": model%.0: Own: no input wanted$", err)
    -- called by C (pcall itself), there is no line to give
    local ok
    ok, err = pcall(lin, x)
    assert.is_false(ok)
    assert.matches("^" .. msg, err)
  end)

  -- docs/nn.md: an inner op's message that counts the op's own arguments keeps the op's name
  -- after the layer's; the layer has no "arg 2"
  it("keeps an inner op's name after the layer's when its message counts the op's arguments", function()
    local SPEC = "spec/nn/module_spec.lua"
    local U = require "graphids.nn._util"
    local function error_of(f)
      local ok, err = pcall(f)
      assert.is_false(ok)
      return err
    end
    local Proj = class("Proj", nn.Module)
    function Proj:__init()
      nn.Module.__init(self)
      self.w = graphids.ones(3, 2)
    end
    function Proj:forward(x, dim)
      if dim ~= nil then return x:sum(dim) end
      return graphids.mm(x, self.w)
    end
    U.library_forwards[Proj.forward] = true -- as graphids.nn's own layers
    local x = graphids.ones({ 2, 3 }, { dtype = "f64" })
    local line = debug.getinfo(1, "l").currentline + 1
    local err = error_of(function() return Proj()(x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": Proj: mm: arg 2 has dtype f32, expected the " ..
      "dtype of arg 1 %(f64%)$", err)
    line = debug.getinfo(1, "l").currentline + 1
    err = error_of(function() return nn.Sequential(nn.Identity(), Proj())(x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": model%.1: Proj: mm: arg 2 has dtype f32", err)
    err = error_of(function() return Proj()(x, "a") end)
    assert.matches("^" .. SPEC .. ":%d+: Proj: sum: dim %(argument #2%) must be an integer", err)
    -- a layer's count of its own forward's arguments is its own: named once
    line = debug.getinfo(1, "l").currentline + 1
    err = error_of(function() return nn.Linear(3, 2)(x, x) end)
    assert.matches("^" .. SPEC .. ":" .. line .. ": Linear: unexpected argument #2 %(graphids.Tensor%) " ..
      "to forward%(x%)$", err)
  end)

  it("registers modules assigned to fields and refuses clashing names", function()
    local M = class("M", nn.Module)
    function M:__init()
      nn.Module.__init(self)
      self.fc = nn.Linear(1, 1)
      self.size = 3 -- a plain attribute
    end
    local m = M()
    assert.same({ "fc" }, names_of(m:named_children()))
    assert.equal(3, m.size)
    errors("register_parameter: attribute 'size' already exists", m.register_parameter, m, "size",
      graphids.zeros(1))
    errors("register_parameter: attribute 'forward' already exists", m.register_parameter, m,
      "forward", graphids.zeros(1))
    errors("register_buffer: 'fc' is already registered as a module", m.register_buffer, m, "fc",
      graphids.zeros(1))
    errors("name 'a%.b' must be non%-empty and contain no '%.'", m.add_module, m, "a.b",
      nn.ReLU())
    errors("register_parameter: 'w' must be a float tensor, got i64", m.register_parameter, m, "w",
      graphids.zeros(1, { dtype = "i64" }))
    local nonleaf = graphids.ones(2, { requires_grad = true }) * 2
    errors("register_parameter: 'w' must be a leaf tensor", m.register_parameter, m, "w", nonleaf)
    errors("Linear: unknown option 'bais' %(did you mean 'bias'%?%)", nn.Linear, 2, 2,
      { bais = false })
    -- a non-persistent buffer stays out of state_dict
    m:register_buffer("cache", graphids.zeros(2), { persistent = false })
    assert.same({ "cache" }, names_of(m:named_buffers()))
    assert.same({ "fc.weight", "fc.bias" }, m:state_dict():keys())
  end)

  it("freezes parameters with requires_grad_ and counts the trainable ones", function()
    local m = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    m[1]:requires_grad_(false)
    assert.is_false(m[1].weight.requires_grad)
    assert.is_true(m[2].weight.requires_grad)
    assert.equal(8 + 3, m:num_parameters())
    assert.equal(3, m:num_parameters({ trainable = true }))
  end)

  it("raises a clear error for a module without forward", function()
    local Empty = class("Empty", nn.Module)
    errors("Empty: forward is not defined", Empty(), 1)
  end)

  it("a forward may yield inside a coroutine, and an error after the resume keeps its position", function()
    local Y = class("Yielding", nn.Module)
    function Y:__init()
      nn.Module.__init(self)
      self.fc = nn.Linear(4, 2)
    end
    function Y:forward(x, bad)
      coroutine.yield("mid")
      return self.fc(bad and graphids.zeros(1, 3) or x)
    end
    local m, line = Y(), debug.getinfo(1, "l").currentline - 2
    local co = coroutine.create(function(bad) return m(graphids.ones(1, 4), bad) end)
    assert.same({ true, "mid" }, { coroutine.resume(co, false) })
    local ok, y = coroutine.resume(co)
    assert.is_true(ok, tostring(y))
    assert.same({ 1, 2 }, y.shape)
    co = coroutine.create(function(bad) return m(graphids.ones(1, 4), bad) end)
    coroutine.resume(co, true)
    local ok2, err = coroutine.resume(co)
    assert.is_false(ok2)
    assert.matches(":" .. line .. ": model.fc: Linear: input of shape %[1, 3%]", err)
  end)

  it("a forward suspended in a coroutine, or dropped there, leaves other calls' errors whole", function()
    local S = nn.Sequential(nn.Linear(4, 4), nn.Linear(5, 3))
    local function path_of()
      local ok, err = pcall(function() local y = S(graphids.randn(2, 4)) return y end)
      assert.is_false(ok)
      return err:match(":%d+: (model%.1): Linear: ") or err
    end
    assert.equal("model.1", path_of())
    local Y = class("Suspends", nn.Module)
    function Y.forward(_, x) coroutine.yield() return x end
    local co = coroutine.create(function() return Y()(graphids.ones(1)) end)
    coroutine.resume(co)
    assert.equal("model.1", path_of()) -- while it is suspended
    coroutine.close(co)
    assert.equal("model.1", path_of()) -- and once it is dropped
  end)

  it("a layer called in a coroutine that a forward resumes nests inside that forward's module", function()
    local Gen = class("Gen", nn.Module)
    function Gen:__init()
      nn.Module.__init(self)
      self.fc = nn.Linear(4, 2)
    end
    function Gen:forward(x)
      local co = coroutine.create(function() return self.fc(x) end)
      local ok, y = coroutine.resume(co)
      if not ok then error(y, 0) end
      return y
    end
    local Outer = class("Outer", nn.Module)
    function Outer:__init()
      nn.Module.__init(self)
      self.g = Gen()
    end
    function Outer:forward(x) return self.g(x) end
    local line = debug.getinfo(1, "l").currentline - 11
    local function err_of(m)
      local ok, err = pcall(function() local y = m(graphids.ones(1, 3)) return y end)
      assert.is_false(ok)
      return err
    end
    assert.matches(":" .. line .. ": model%.fc: Linear: input of shape %[1, 3%]", err_of(Gen()))
    assert.matches(":" .. line .. ": model%.g%.fc: Linear: input of shape %[1, 3%]", err_of(Outer()))
  end)
end)

describe("graphids.nn containers", function()
  it("Sequential chains its children and indexes them 1-based", function()
    local a, b = nn.Linear(2, 3), nn.ReLU()
    local seq = nn.Sequential(a, b)
    assert.equal(2, #seq)
    assert.equal(a, seq[1])
    assert.equal(b, seq[-1])
    assert.is_nil(seq[3]) -- past the end is nil, as a Lua list (ipairs stops there)
    assert.equal(a, seq[1.0])
    errors("Sequential: index 0 is out of range %(2 children, indexed 1..2 or %-2..%-1; child '0' is %[1%]%)",
      function() return seq[0] end)
    errors("Sequential: index %-3 is out of range", function() return seq[-3] end)
    local x = graphids.randn(4, 2)
    assert.is_true(graphids.equal(seq(x), b(a(x))))
    local n = 0
    for i, m in ipairs(seq) do
      n = i
      assert.equal(seq[i], m)
    end
    assert.equal(2, n)
    seq:append(nn.Linear(3, 1))
    assert.same({ "0", "1", "2" }, names_of(seq:named_children()))
    assert.same({ 4, 1 }, seq(x).shape)
    assert.equal(2, #nn.Sequential({ nn.ReLU(), nn.Tanh() }))
    errors("Sequential: argument 2 must be a Module, got number", nn.Sequential, nn.ReLU(), 3)
  end)

  it("assigning to an index replaces that child of a Sequential or ModuleList, as torch", function()
    local function set(c, k, v) c[k] = v end
    local seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
    local new = nn.Linear(2, 5)
    seq[1] = new
    assert.equal(new, seq[1])
    assert.same({ 3, 5 }, seq(graphids.randn(3, 2)).shape) -- forward runs the new layer
    assert.same({ "0.weight", "0.bias" }, names_of(seq:named_parameters()))
    assert.same({ 5, 2 }, seq:state_dict()["0.weight"].shape)
    local tanh = nn.Tanh()
    seq[-1] = tanh
    assert.equal(tanh, rawget(seq, "1"))
    assert.equal(2, #seq)
    local ml = nn.ModuleList({ nn.Linear(1, 1) })
    ml[1.0] = nn.Linear(1, 3)
    assert.same({ 3, 1 }, ml:parameters()[1].shape)
    -- an index naming no child (torch's IndexError) and a non-Module value are errors, at the
    -- assignment's line, and the container is left as it was
    local ok, err = pcall(set, ml, 2, nn.Linear(1, 3))
    assert.is_false(ok)
    assert.matches("^spec/nn/module_spec%.lua:%d+: ModuleList: index 2 is out of range %(1 children.*" ..
      "append adds a child", err)
    errors("Sequential: index 0 is out of range", set, seq, 0, nn.ReLU())
    errors("Sequential: index %-3 is out of range", set, seq, -3, nn.ReLU())
    errors("Sequential: index must be an integer, got 1.5", set, seq, 1.5, nn.ReLU())
    errors("Sequential: %[1%] must be a Module, got number", set, seq, 1, 3)
    errors("ModuleList: %[1%] must be a Module, got nil", set, ml, 1, nil)
    assert.equal(1, #ml)
    assert.equal(2, #ml:parameters())
    assert.is_nil(rawget(ml, 2))
    assert.equal(new, seq[1])
  end)

  it("a subclass of Sequential or ModuleList indexes and assigns as its base class", function()
    local MySeq = class("MySeq", nn.Sequential)
    function MySeq:__init(...) nn.Sequential.__init(self, ...) end
    function MySeq:first() return self[1] end
    local Deeper = class("Deeper", MySeq) -- a subclass of the subclass
    local a, b = nn.Linear(2, 3), nn.ReLU()
    for _, s in ipairs({ MySeq(a, b), Deeper(a, b) }) do
      assert.equal(2, #s)
      assert.equal(a, s[1])
      assert.equal(b, s[-1])
      assert.equal(a, s:first()) -- its own methods come before the base's indexing
      assert.is_nil(s[3])
      local seen = {}
      for i, m in ipairs(s) do seen[i] = m end
      assert.same({ a, b }, seen)
      local name = class.name_of(s) -- the subclass's name
      errors(name .. ": index 0 is out of range", function() return s[0] end)
      local t = nn.Tanh()
      s[2] = t
      assert.equal(t, rawget(s, "1"))
      errors(name .. ": index 3 is out of range", function() s[3] = nn.ReLU() end)
      s.extra = nn.Linear(3, 1) -- a named field still registers a child
      assert.same({ "0", "1", "extra" }, names_of(s:named_children()))
    end
    local MyList = class("MyList", nn.ModuleList)
    local l = MyList({ nn.Linear(1, 1) })
    assert.equal(1, #l)
    assert.equal("Linear", class.name_of(l[1]))
    errors("MyList: index 2 is out of range", function() l[2] = nn.ReLU() end)
  end)

  it("ModuleList holds modules without a forward", function()
    local list = nn.ModuleList()
    list:append(nn.Linear(2, 2)):extend({ nn.Linear(2, 2), nn.Tanh() })
    assert.equal(3, #list)
    assert.same({ "0.weight", "0.bias", "1.weight", "1.bias" }, names_of(list:named_parameters()))
    errors("ModuleList: has no forward", list, graphids.zeros(1))
  end)

  it("container errors name the method and point at the caller's line", function()
    errors_at_caller("Sequential: argument 2 must be a Module, got number", nn.Sequential, nn.ReLU(), 3)
    local seq = nn.Sequential()
    errors_at_caller("Sequential:append: argument 1 must be a Module, got number", seq.append, seq, 3)
    errors_at_caller("ModuleList: argument 2 must be a Module, got number", nn.ModuleList, { nn.ReLU(), 3 })
    errors_at_caller("ModuleList: expected a list of modules, got number", nn.ModuleList, 3)
    local ml = nn.ModuleList()
    errors_at_caller("ModuleList:extend: argument 2 must be a Module, got number", ml.extend, ml,
      { nn.ReLU(), 3 })
    errors_at_caller("ModuleList:append: argument 1 must be a Module", ml.append, ml, "x")
    errors_at_caller("ModuleDict: entry 'a' must be a Module, got number", nn.ModuleDict, { a = 3 })
    errors_at_caller("ModuleDict: entry 'a' must be a Module, got number", nn.ModuleDict, { { "a", 3 } })
    errors_at_caller("ModuleDict: entry 1 must be a {name, module} pair", nn.ModuleDict, { { 3, nn.ReLU() } })
    errors_at_caller("ModuleDict: expected a table of modules, got number", nn.ModuleDict, 3)
    -- pairs and named entries in one table: the named one would be dropped (its order unknown)
    errors_at_caller("ModuleDict: entry 'b' is named in a list of {name, module} pairs %(a mixed table " ..
      "has no order%); give every entry as a pair", nn.ModuleDict, { { "a", nn.ReLU() }, b = nn.Tanh() })
    errors_at_caller("ModuleDict: name 'a.b' must be non%-empty and contain no '.'", nn.ModuleDict,
      { ["a.b"] = nn.ReLU() })
    local d = nn.ModuleDict()
    errors_at_caller("ModuleDict:update: entry 'a' must be a Module", d.update, d, { a = 3 })
    errors_at_caller("ModuleDict:set: name 'a.b' must be non%-empty and contain no '.'", d.set, d, "a.b",
      nn.ReLU())
    errors_at_caller("ModuleDict:set: 'a' must be a Module or nil, got number", d.set, d, "a", 3)
    errors_at_caller("add_module: name 'a.b' must be", d.add_module, d, "a.b", nn.ReLU())
    assert.same({}, d:keys())
    -- a Module assigned to a method's name: named by the module's class, at the assignment
    local ok, err = pcall(function() d.keys = nn.ReLU() end)
    assert.is_false(ok)
    assert.matches("^spec/nn/module_spec%.lua:%d+: ModuleDict: attribute 'keys' already exists", err)
  end)

  it("ModuleDict keeps insertion order, or sorted names from a plain table", function()
    local d = nn.ModuleDict({ { "enc", nn.Linear(2, 3) }, { "act", nn.ReLU() },
      { "dec", nn.Linear(3, 2) } })
    assert.same({ "enc", "act", "dec" }, d:keys())
    assert.equal(3, #d)
    assert.equal(d.enc, d:get("enc"))
    assert.same({ "enc.weight", "enc.bias", "dec.weight", "dec.bias" }, d:state_dict():keys())
    local names = {}
    for name in d:items() do
      names[#names + 1] = name
    end
    assert.same({ "enc", "act", "dec" }, names)
    d:set("out", nn.Tanh())
    assert.same({ "enc", "act", "dec", "out" }, d:keys())
    local s = nn.ModuleDict({ zeta = nn.ReLU(), alpha = nn.Tanh() })
    assert.same({ "alpha", "zeta" }, s:keys())
  end)
end)

describe("graphids.nn.StateDict", function()
  it("keeps insertion order and looks names up", function()
    local sd = nn.StateDict()
    sd:set("b", graphids.ones(1)):set("a", graphids.zeros(2))
    assert.same({ "b", "a" }, sd:keys())
    assert.equal(2, #sd)
    assert.same({ 2 }, sd.a.shape)
    assert.is_true(sd:has("b"))
    sd:remove("b")
    assert.same({ "a" }, sd:keys())
    assert.matches("StateDict%(\n  a: %[2%] f32\n%)", tostring(sd))
    local from = nn.StateDict.from({ z = graphids.ones(1), y = graphids.ones(1) })
    assert.same({ "y", "z" }, from:keys())
  end)

  it("never lets a name hide a method: every method works for every name", function()
    local methods = { "keys", "items", "get", "set", "has", "remove", "from" }
    local sd = nn.StateDict()
    for i, name in ipairs(methods) do
      sd:set(name, graphids.full({ 1 }, i))
    end
    assert.same(methods, sd:keys())
    local seen = {}
    for name, t in sd:items() do seen[#seen + 1] = name .. "=" .. t:item() end
    assert.same({ "keys=1", "items=2", "get=3", "set=4", "has=5", "remove=6", "from=7" }, seen)
    assert.equal(3, sd:get("get"):item())
    assert.is_true(sd:has("has"))
    assert.equal("function", type(sd.keys)) -- the field reads the method; get reads the entry
    sd:remove("remove")
    assert.is_false(sd:has("remove"))
    assert.equal(6, #sd)
    -- sd[name] = t is set (ordered); pairs walks the entries in order, nothing else
    sd.extra = graphids.zeros(1)
    sd.keys = graphids.zeros(2)
    assert.same({ "keys", "items", "get", "set", "has", "from", "extra" }, sd:keys())
    assert.same({ 2 }, sd:get("keys").shape)
    local walked = {}
    for name in pairs(sd) do walked[#walked + 1] = name end
    assert.same(sd:keys(), walked)
    errors("StateDict: name must be a string, got number", function() sd[1] = graphids.zeros(1) end)

    -- a module whose buffer is named "keys" round-trips through state_dict/load_state_dict
    local Odd = class("Odd", nn.Module)
    function Odd:__init()
      nn.Module.__init(self)
      self:register_buffer("keys", graphids.zeros(2))
      self:register_parameter("items", graphids.zeros(3))
    end
    local src, dst = Odd(), Odd()
    graphids.no_grad(function() src.keys:fill_(4); src.items:fill_(5) end)
    dst:load_state_dict(src:state_dict())
    assert.is_true(graphids.equal(dst.keys, graphids.full({ 2 }, 4)))
    assert.is_true(graphids.equal(dst.items, graphids.full({ 3 }, 5)))
  end)
end)
