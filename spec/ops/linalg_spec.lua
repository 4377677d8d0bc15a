-- linalg_spec.lua -- graphids.matmul / mm / bmm / addmm against hand-computed products.
local graphids = require "graphids"
local helpers = require "helpers"
local errors, near = helpers.errors, helpers.near

-- Integer literals make i64 tensors (as torch); the float tests ask for f32.
local F32 = helpers.F32

-- Reference product of two Lua matrices (tables of rows).
local function ref_mm(a, b)
  local c = {}
  for i = 1, #a do
    c[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for p = 1, #b do
        s = s + a[i][p] * b[p][j]
      end
      c[i][j] = s
    end
  end
  return c
end

describe("graphids.matmul", function()
  it("multiplies two matrices as a hand computation does", function()
    local a = graphids.tensor({ { 1, 2, 3 }, { 4, 5, 6 } }, F32)
    local b = graphids.tensor({ { 7, 8 }, { 9, 10 }, { 11, 12 } }, F32)
    assert.same({ { 58, 64 }, { 139, 154 } }, graphids.matmul(a, b):totable())
    assert.same({ { 58, 64 }, { 139, 154 } }, a:matmul(b):totable())
    assert.same({ { 58, 64 }, { 139, 154 } }, graphids.mm(a, b):totable())
    assert.are.equal("f32", a:matmul(b).dtype)
  end)

  it("reads transposed, narrowed and expanded operands through their strides", function()
    local a = graphids.randn(5, 4)
    local b = graphids.randn(5, 3)
    local at, bt = a:totable(), b:totable()
    -- a:t() is column-major; the product is a^T b
    local tt = {}
    for i = 1, 4 do
      tt[i] = {}
      for p = 1, 5 do
        tt[i][p] = at[p][i]
      end
    end
    near(a:t():matmul(b):totable(), ref_mm(tt, bt), 1e-5)
    -- a narrowed block: rows 2..4 and columns 2..3 of a
    local n = a:narrow(1, 2, 3):narrow(2, 2, 2)
    local nt = { { at[2][2], at[2][3] }, { at[3][2], at[3][3] }, { at[4][2], at[4][3] } }
    local w = graphids.tensor({ { 1, -1 }, { 0.5, 2 } })
    near(n:matmul(w):totable(), ref_mm(nt, { { 1, -1 }, { 0.5, 2 } }), 1e-5)
    -- an expanded row repeats the same product in every row
    local row = graphids.tensor({ { 1, 2, 3, 4, 5 } }, F32)
    local e = row:expand(3, 5):matmul(b):totable()
    local want = ref_mm({ { 1, 2, 3, 4, 5 } }, bt)[1]
    for i = 1, 3 do
      near(e[i], want, 1e-5)
    end
  end)

  it("follows torch for 1-D operands", function()
    local x = graphids.tensor({ 1, 2, 3 }, F32)
    local y = graphids.tensor({ 4, 5, 6 }, F32)
    local d = graphids.matmul(x, y)
    assert.same({}, d.shape)
    assert.are.equal(32, d:item())
    local m = graphids.tensor({ { 1, 0, 2 }, { 0, 1, 1 } }, F32)
    assert.same({ 7, 5 }, m:matmul(x):totable())
    assert.same({ 2 }, x:matmul(m:t()).shape)
    assert.same({ 7, 5 }, x:matmul(m:t()):totable())
  end)

  it("broadcasts batch dims like torch.matmul", function()
    local a = graphids.randn(2, 1, 3, 4)
    local b = graphids.randn(3, 4, 2)
    local c = graphids.matmul(a, b)
    assert.same({ 2, 3, 3, 2 }, c.shape)
    local at, bt, ct = a:totable(), b:totable(), c:totable()
    for i = 1, 2 do
      for j = 1, 3 do
        near(ct[i][j], ref_mm(at[i][1], bt[j]), 1e-4)
      end
    end
    -- a batch on the left of a plain matrix (nn.Linear on a 3-D input)
    local x = graphids.randn(4, 3, 5)
    local w = graphids.randn(5, 2)
    local xt, wt, y = x:totable(), w:totable(), x:matmul(w):totable()
    for i = 1, 4 do
      near(y[i], ref_mm(xt[i], wt), 1e-4)
    end
  end)

  it("computes batched products with bmm", function()
    local a = graphids.tensor({ { { 1, 2 } }, { { 3, 4 } } }, F32) -- [2,1,2]
    local b = graphids.tensor({ { { 1 }, { 1 } }, { { 2 }, { -1 } } }, F32) -- [2,2,1]
    assert.same({ { { 3 } }, { { 2 } } }, graphids.bmm(a, b):totable())
    assert.same({ { { 3 } }, { { 2 } } }, a:bmm(b):totable())
  end)

  it("multiplies integer matrices exactly", function()
    local a = graphids.tensor({ { 1, -2 }, { 3, 4 } }, { dtype = "i64" })
    local b = graphids.tensor({ { 5, 6, 7 }, { 8, 9, 10 } }, { dtype = "i64" })
    local c = a:matmul(b)
    assert.are.equal("i64", c.dtype)
    assert.same({ { -11, -12, -13 }, { 47, 54, 61 } }, c:totable())
    assert.is_true(math.type(c:totable()[1][1]) == "integer")
  end)

  it("raises errors that name both shapes or both dtypes", function()
    local a = graphids.zeros(2, 5)
    local b = graphids.zeros(4, 3)
    errors("matmul: arg 2 has shape %[4,3%], incompatible with arg 1 %[2,5%] %(inner dims 5 vs 4%)",
      graphids.matmul, a, b)
    errors("mm: arg 2 has dtype f64, expected the dtype of arg 1 %(f32%)",
      graphids.mm, graphids.zeros(2, 2), graphids.zeros(2, 2, { dtype = "f64" }))
    errors("bmm: .*batch sizes 2 vs 3", graphids.bmm, graphids.zeros(2, 2, 3), graphids.zeros(3, 3, 2))
    errors("batch dims of arg 1 %[2,3,4%] and arg 2 %[3,4,2%] do not broadcast",
      graphids.matmul, graphids.zeros(2, 3, 4), graphids.zeros(3, 4, 2))
    errors("mm: arg 1 has shape %[3%], expected a 2%-D tensor", graphids.mm, graphids.zeros(3), b)
    errors("graphids.Tensor expected", graphids.matmul, a, "x")
  end)
end)

describe("graphids.addmm", function()
  it("computes beta * bias + alpha * a @ b with a broadcast bias", function()
    local bias = graphids.tensor({ 10, 20 }, F32)
    local a = graphids.tensor({ { 1, 2 }, { 3, 4 } }, F32)
    local eye = graphids.tensor({ { 1, 0 }, { 0, 1 } }, F32)
    assert.same({ { 11, 22 }, { 13, 24 } }, graphids.addmm(bias, a, eye):totable())
    assert.same({ { 7, 14 }, { 11, 18 } }, graphids.addmm(bias, a, eye, { beta = 0.5, alpha = 2 }):totable())
    assert.same({ { 7, 14 }, { 11, 18 } }, bias:addmm(a, eye, { beta = 0.5, alpha = 2 }):totable())
    local nan = graphids.tensor({ 0 / 0, 0 / 0 })
    assert.same({ { 1, 2 }, { 3, 4 } }, graphids.addmm(nan, a, eye, { beta = 0 }):totable())
  end)

  it("rejects unknown options and a bias that does not broadcast", function()
    local a = graphids.ones(2, 2)
    errors("addmm: unknown option 'gama'", graphids.addmm, graphids.ones(2), a, a, { gama = 1 })
    errors("addmm: bias has shape %[3%], which does not broadcast to %[2,2%]",
      graphids.addmm, graphids.ones(3), a, a)
  end)
end)
