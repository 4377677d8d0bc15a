-- graphids.nn LSTM and GRU, with torch's parameters, gate order and results.
--   local lstm = nn.LSTM(96, 144, { num_layers = 2, bidirectional = true, batch_first = true })
--   local out, state = lstm(x)            -- x [N, L, 96] -> out [N, L, 288]
--   local h_n, c_n = state[1], state[2]   -- [4, N, 144] each (layer-major, then direction)
--   local gru = nn.GRU(8, 16); local out2, h_n2 = gru(x2, h0)
-- Input is [L, N, in] ([N, L, in] with batch_first, or [L, in] unbatched); the optional initial
-- state is {h0, c0} for LSTM and h0 for GRU, each [layers * directions, N, hidden].
-- Parameters per layer k and direction (suffix "" or "_reverse"), in torch's order:
-- weight_ih_lk [G*hidden, in], weight_hh_lk [G*hidden, hidden], bias_ih_lk, bias_hh_lk [G*hidden]
-- with gates (G) i, f, g, o for LSTM and r, z, n for GRU; all start U(-1/sqrt(hidden),
-- 1/sqrt(hidden)).  dropout applies to the output of every layer but the last, in training.
--
-- Speed (CPU): each LSTM time step is one addmm for all gates of all batch rows and one fused
-- cell (core.lstm_cell: the gate activations and the state update, and their backward, each in
-- one pass); see run_lstm_fused.  GRU, and LSTM off the CPU, project the whole sequence in one
-- matmul per layer and direction and compose each step from plain ops.
local graphids = require "graphids"
local core = require "graphids.core"
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local init = require "graphids.nn.initializers"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local RNNBase = class("RNNBase", Module)

local GATES = { LSTM = 4, GRU = 3 }

function RNNBase:__init(mode, input_size, hidden_size, opts)
  Module.__init(self)
  local o = U.options(mode, opts, { num_layers = 1, bias = true, batch_first = false,
    dropout = 0.0, bidirectional = false, dtype = U.NONE, device = U.NONE }, U.CTOR + 1)
  U.check_size(mode, "input_size", input_size, U.CTOR + 1)
  U.check_size(mode, "hidden_size", hidden_size, U.CTOR + 1)
  if math.type(o.num_layers) ~= "integer" or o.num_layers < 1 then
    error(mode .. ": num_layers must be a positive integer, got " .. tostring(o.num_layers),
      U.CTOR + 1)
  end
  if o.dropout < 0 or o.dropout > 1 then
    error(mode .. ": dropout must be a number in [0, 1], got " .. o.dropout, U.CTOR + 1)
  end
  self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
  self.num_layers, self.bias, self.batch_first = o.num_layers, o.bias, o.batch_first
  self.dropout, self.bidirectional = o.dropout, o.bidirectional
  local G, D = GATES[mode], o.bidirectional and 2 or 1
  self._names = {}
  for layer = 0, o.num_layers - 1 do
    local in_size = layer == 0 and input_size or hidden_size * D
    for dir = 0, D - 1 do
      local sfx = "_l" .. layer .. (dir == 1 and "_reverse" or "")
      local names = { "weight_ih" .. sfx, "weight_hh" .. sfx, "bias_ih" .. sfx, "bias_hh" .. sfx }
      self:register_parameter(names[1], U.empty({ G * hidden_size, in_size }, o))
      self:register_parameter(names[2], U.empty({ G * hidden_size, hidden_size }, o))
      if o.bias then
        self:register_parameter(names[3], U.empty({ G * hidden_size }, o))
        self:register_parameter(names[4], U.empty({ G * hidden_size }, o))
      end
      self._names[#self._names + 1] = names
    end
  end
  self:reset_parameters()
end

function RNNBase:reset_parameters()
  local stdv = self.hidden_size > 0 and 1.0 / math.sqrt(self.hidden_size) or 0
  for _, p in ipairs(self:parameters()) do
    init.uniform_(p, -stdv, stdv)
  end
end

function RNNBase:extra_repr()
  local s = string.format("%d, %d", self.input_size, self.hidden_size)
  if self.num_layers ~= 1 then
    s = s .. ", num_layers=" .. self.num_layers
  end
  if not self.bias then
    s = s .. ", bias=false"
  end
  if self.batch_first then
    s = s .. ", batch_first=true"
  end
  if self.dropout ~= 0 then
    s = s .. ", dropout=" .. string.format("%g", self.dropout)
  end
  if self.bidirectional then
    s = s .. ", bidirectional=true"
  end
  return s
end

-- x: [T, N, in] (time-major) or [N, T, in] (tdim 2).  Returns the input projection of every
-- step, [T, N, G*H] or [N, T, G*H], in one matmul; LSTM folds both biases into it.
local function project(self, x, names)
  local w_ih = rawget(self, names[1])
  local shape = x.shape
  local x2 = x:reshape(-1, shape[3])
  local proj
  if self.bias then
    local b = rawget(self, names[3])
    if self.mode == "LSTM" then
      b = b + rawget(self, names[4])
    end
    proj = graphids.addmm(b, x2, w_ih:t())
  else
    proj = graphids.mm(x2, w_ih:t())
  end
  -- (the width named: -1 cannot be inferred from an empty batch's 0 elements)
  return proj:view(shape[1], shape[2], w_ih.shape[1])
end

-- One direction of one LSTM layer on the CPU, step by step: gates = [x_t, h] [W_ih, W_hh]^T + b
-- in one GEMM (x_t W_ih^T + b at a zero-state first step), then the fused cell.  At the same
-- FLOPs this ran about 10% faster than projecting the whole sequence and adding a recurrent
-- GEMM per step: BLAS does better with K = in + hidden than with two GEMMs of K = in and
-- K = hidden, and the step's gates need no copy of a projection slice.
local function run_lstm_fused(self, x, names, tdim, first, last, step, h, c)
  local xs = graphids.split(x, 1, tdim) -- one node for all steps (see run_direction)
  local w_ih = rawget(self, names[1])
  local w_ih_t = w_ih:t()
  local w_cat_t = graphids.cat({ w_ih, rawget(self, names[2]) }, 2):t()
  local b = self.bias and rawget(self, names[3]) + rawget(self, names[4]) or nil
  local outs = {}
  for t = first, last, step do
    local a, w = xs[t]:squeeze(tdim), w_ih_t
    if h then
      a, w = graphids.cat({ a, h }, 2), w_cat_t
    end
    local gates = b and graphids.addmm(b, a, w) or graphids.mm(a, w)
    h, c = core.lstm_cell(gates, c)
    outs[t] = h
  end
  return outs, h, c
end

-- One direction of one LSTM layer off the CPU, per step: gates = x_t W_ih^T + b, then
-- + h W_hh^T, then the fused cell.  Each addmm reads its bias (a vector, then the first
-- product) inside the GEMM (cuBLASLt), and x_t is a strided view the GEMM reads in place, so
-- nothing is copied: concatenating [x_t, h] (the CPU's order) copied both per step and split
-- the gradient back, and one projection of the whole sequence gave strided gate slices that
-- the cell copied and a [N, T, 4H] gradient assembled from pieces (a quarter of the JK LSTM's
-- time on an H100 at 1024 graphs).
local function run_lstm_device(self, x, names, tdim, first, last, step, h, c)
  local xs = graphids.split(x, 1, tdim) -- one node for all steps (see run_direction)
  local w_ih_t = rawget(self, names[1]):t()
  local w_hh_t = rawget(self, names[2]):t()
  local b = self.bias and rawget(self, names[3]) + rawget(self, names[4]) or nil
  local outs = {}
  for t = first, last, step do
    local xt = xs[t]:squeeze(tdim)
    local gates = b and graphids.addmm(b, xt, w_ih_t) or graphids.mm(xt, w_ih_t)
    if h then
      gates = graphids.addmm(gates, h, w_hh_t)
    end
    h, c = core.lstm_cell(gates, c)
    outs[t] = h
  end
  return outs, h, c
end

-- One direction of one layer over the whole sequence.  h, c: initial states [N, H] or nil
-- (zeros).  Returns the list of per-step outputs in time order and the final h (and c).
local function run_direction(self, x, names, tdim, reverse, h, c)
  local T = x.shape[tdim]
  local H = self.hidden_size
  local first, last, step = 1, T, 1
  if reverse then
    first, last, step = T, 1, -1
  end
  local w_hh = rawget(self, names[2])
  if h == nil and T == 1 and w_hh.requires_grad and graphids.is_grad_enabled() then
    -- A one-step sequence from the zero state never reaches W_hh on the paths below; torch
    -- multiplies its zero h0 in and gives W_hh a zero gradient, which an optimizer then steps
    -- (AdamW decays it), so here too.
    h = graphids.zeros({ x.shape[tdim == 1 and 2 or 1], H }, { dtype = x.dtype, device = x.device })
  end
  if self.mode == "LSTM" and x.device == "cpu" then
    return run_lstm_fused(self, x, names, tdim, first, last, step, h, c)
  elseif self.mode == "LSTM" then
    return run_lstm_device(self, x, names, tdim, first, last, step, h, c)
  end
  -- GRU: one split node for all steps: select per step would give each step's backward a zero
  -- tensor of the whole projection to scatter into
  local steps = graphids.split(project(self, x, names), 1, tdim)
  local w_hh_t = rawget(self, names[2]):t()
  local b_hh = self.bias and rawget(self, names[4]) or nil
  local outs = {}
  for t = first, last, step do
    local xp = steps[t]:squeeze(tdim)
    local xs = graphids.split(xp, H, 2)
    local r, z, n
    if h then
      local hp = b_hh and graphids.addmm(b_hh, h, w_hh_t) or graphids.mm(h, w_hh_t)
      local hs = graphids.split(hp, H, 2)
      r = (xs[1] + hs[1]):sigmoid()
      z = (xs[2] + hs[2]):sigmoid()
      n = (xs[3] + r * hs[3]):tanh()
      h = n + z * (h - n)
    else
      -- zero state: W_hh h vanishes, leaving b_hh
      if b_hh then
        local bs = graphids.split(b_hh, H, 1)
        r = (xs[1] + bs[1]):sigmoid()
        z = (xs[2] + bs[2]):sigmoid()
        n = (xs[3] + r * bs[3]):tanh()
      else
        z = xs[2]:sigmoid()
        n = xs[3]:tanh()
      end
      h = n - z * n
    end
    outs[t] = h
  end
  return outs, h
end

local function state_error(self, what, got, want)
  error(string.format("%s: %s must have shape [%s], got %s", self.mode, what,
    table.concat(want, ", "), U.shape_str(got)), 3)
end

function RNNBase:forward(input, hx)
  local mode = self.mode
  if not graphids.is_tensor(input) then
    error(mode .. ": input must be a tensor, got " .. type(input), 2)
  end
  local unbatched = input.ndim == 2
  if input.ndim ~= 2 and input.ndim ~= 3 then
    error(string.format("%s: expected a 2-D (unbatched) or 3-D input, got %s", mode,
      U.shape_str(input)), 2)
  end
  if input.shape[input.ndim] ~= self.input_size then
    error(string.format("%s: input size (last dim of %s) must be input_size %d", mode,
      U.shape_str(input), self.input_size), 2)
  end
  -- the parameters' dtype, checked here in the layer's terms (the products would count their own
  -- arguments); every parameter has it unless one was replaced by hand
  local wname = self._names[1][1]
  local w = rawget(self, wname)
  if input.dtype ~= w.dtype then
    U.dtype_mismatch(mode, "input", input, wname, w)
  end
  local x, tdim = input, 1
  if unbatched then
    x = input:unsqueeze(2)
  elseif self.batch_first then
    tdim = 2
  end
  if x.shape[tdim] == 0 then
    error(string.format("%s: expected a sequence length larger than 0, got input %s (time is " ..
      "dim %d)", mode, U.shape_str(input), unbatched and 1 or tdim), 2)
  end
  local N = x.shape[tdim == 1 and 2 or 1]
  local D = self.bidirectional and 2 or 1
  local H, L = self.hidden_size, self.num_layers
  local h0, c0
  if hx ~= nil then
    if mode == "LSTM" then
      if type(hx) ~= "table" or not graphids.is_tensor(hx[1]) or not graphids.is_tensor(hx[2]) then
        error("LSTM: the initial state must be {h0, c0}", 2)
      end
      h0, c0 = hx[1], hx[2]
    else
      if not graphids.is_tensor(hx) then
        error("GRU: the initial state must be a tensor h0", 2)
      end
      h0 = hx
    end
    local want = unbatched and { D * L, H } or { D * L, N, H }
    for idx, s in ipairs({ h0, c0 }) do
      local shape = s.shape
      local ok = #shape == #want
      for k = 1, #want do
        ok = ok and shape[k] == want[k]
      end
      if not ok then
        state_error(self, idx == 1 and "h0" or "c0", s, want)
      end
      if s.dtype ~= w.dtype then
        U.dtype_mismatch(mode, idx == 1 and "h0" or "c0", s, wname, w)
      end
    end
    if unbatched then
      h0 = h0:unsqueeze(2)
      c0 = c0 and c0:unsqueeze(2)
    end
  end
  local h_n, c_n = {}, {}
  local cat_dim = 3
  for layer = 0, L - 1 do
    local dir_outs = {}
    for dir = 0, D - 1 do
      local idx = layer * D + dir
      local names = self._names[idx + 1]
      local h = h0 and h0:select(1, idx + 1) or nil
      local c = c0 and c0:select(1, idx + 1) or nil
      local outs
      outs, h, c = run_direction(self, x, names, tdim, dir == 1, h, c)
      dir_outs[dir + 1] = graphids.stack(outs, tdim)
      h_n[idx + 1], c_n[idx + 1] = h, c
    end
    x = D == 2 and graphids.cat(dir_outs, cat_dim) or dir_outs[1]
    if layer < L - 1 and self.dropout > 0 and self.training then
      x = F.dropout(x, self.dropout, true)
    end
  end
  local hn = graphids.stack(h_n, 1)
  local cn = mode == "LSTM" and graphids.stack(c_n, 1) or nil
  if unbatched then
    x = x:squeeze(2)
    hn = hn:squeeze(2)
    cn = cn and cn:squeeze(2)
  end
  if mode == "LSTM" then
    return x, { hn, cn }
  end
  return x, hn
end

local LSTM = class("LSTM", RNNBase)

-- LSTM(input_size, hidden_size, {num_layers=1, bias=true, batch_first=false, dropout=0,
-- bidirectional=false, dtype=, device=}); forward(x, {h0, c0}?) -> output, {h_n, c_n}.
function LSTM:__init(input_size, hidden_size, opts)
  RNNBase.__init(self, "LSTM", input_size, hidden_size, opts)
end

M.LSTM = LSTM

local GRU = class("GRU", RNNBase)

-- GRU(input_size, hidden_size, opts as LSTM); forward(x, h0?) -> output, h_n.
function GRU:__init(input_size, hidden_size, opts)
  RNNBase.__init(self, "GRU", input_size, hidden_size, opts)
end

M.GRU = GRU

return M
