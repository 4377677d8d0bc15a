"""The SGD/Adam/AdamW kernels against torch's single-tensor CPU step, element by element.

Run from the repository root with the peer venv:  ~/.cache/graphids-peer/bin/python
bench/peer/optim_rounding.py.  Both sides start from the same 1003 values and grads (exact
rationals, so identical in f64 and f32) and take 1 and 15 steps; it prints how many parameters
differ and the largest difference in ulps of the operands (docs/optim.md quotes the figures).
torch's add_(x, alpha=a) and lerp_ round once (a fused multiply-add); the kernels round the
product and the sum apart.
"""
import os, subprocess, tempfile
import numpy as np, torch
LUA = r"""
-- prints p after `steps` steps of each optimizer, as hex floats, one config per line
local graphids = require "graphids"
local optim = graphids.optim
local N = 1003
local function p0(i) return ((i * 31) % 97 - 48) / 37 end
local function g(i, t) return ((i * 7 + t * 13) % 101 - 50) / 29 end
local configs = {
  { "SGD", optim.SGD, { lr = 0.1, momentum = 0.9, weight_decay = 0.01 } },
  { "SGDn", optim.SGD, { lr = 0.1, momentum = 0.9, nesterov = true } },
  { "Adam", optim.Adam, { lr = 1e-2 } },
  { "AdamW", optim.AdamW, { lr = 1e-2, weight_decay = 0.01 } },
}
for _, dtype in ipairs({ "f64", "f32" }) do
  for _, steps in ipairs({ 1, 15 }) do
    for _, c in ipairs(configs) do
      local v = {}
      for i = 0, N - 1 do v[#v + 1] = p0(i) end
      local p = graphids.tensor(v, { dtype = dtype }):requires_grad_()
      local o = c[2]({ p }, c[3])
      for t = 1, steps do
        local gv = {}
        for i = 0, N - 1 do gv[#gv + 1] = g(i, t) end
        p.grad = graphids.tensor(gv, { dtype = dtype })
        o:step()
      end
      local out = {}
      for i, x in ipairs(p:totable()) do out[i] = string.format("%a", x) end
      print(c[1], dtype, steps, table.concat(out, " "))
    end
  end
end
"""
N = 1003
def p0(i): return ((i * 31) % 97 - 48) / 37
def g(i, t): return ((i * 7 + t * 13) % 101 - 50) / 29
cfgs = {"SGD": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
        "SGDn": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
        "Adam": (torch.optim.Adam, dict(lr=1e-2)),
        "AdamW": (torch.optim.AdamW, dict(lr=1e-2, weight_decay=0.01))}
with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
    f.write(LUA)
out = subprocess.run(["build/bin/graphids", "run", f.name], capture_output=True, text=True,
                     check=True).stdout
os.unlink(f.name)
for line in out.strip().split("\n"):
    name, dtype, steps, *vals = line.split()
    steps = int(steps); dt = torch.float64 if dtype == "f64" else torch.float32
    ours = np.array([float.fromhex(x) for x in vals]).astype(np.float64 if dtype == "f64" else np.float32)
    p = torch.tensor([p0(i) for i in range(N)], dtype=dt, requires_grad=True)
    cls, kw = cfgs[name]
    o = cls([p], foreach=False, **kw)
    for t in range(1, steps + 1):
        p.grad = torch.tensor([g(i, t) for i in range(N)], dtype=dt)
        o.step()
    ref = p.detach().numpy()
    idt = np.int64 if dtype == "f64" else np.int32
    a, b = ours.view(idt).astype(np.int64), ref.view(idt).astype(np.int64)
    ulps = np.abs(a - b)  # same sign assumed where it matters
    diff = int((ulps != 0).sum())
    start = np.array([p0(i) for i in range(N)]).astype(ours.dtype)
    scale = np.spacing(np.maximum(np.abs(start), np.abs(ref)))
    opulp = float(np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64))
                         / scale.astype(np.float64)))
    absd = np.max(np.abs(ours.astype(np.float64) - ref.astype(np.float64)))
    print(f"{name:6s} {dtype} steps={steps:2d}: {diff:4d}/{N} differ, "
          f"max {opulp:.1f} ulp of the operands, max abs {absd:.2e}")
