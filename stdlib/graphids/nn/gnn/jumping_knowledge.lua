-- graphids.nn JumpingKnowledge -- PyTorch Geometric's JumpingKnowledge (2.8), from
-- "Representation Learning on Graphs with Jumping Knowledge Networks" (Xu et al.).
--   local jk = nn.JumpingKnowledge("cat")                  -- or "max"
--   local jk2 = nn.JumpingKnowledge("lstm", { channels = 96, num_layers = 3 })
--   local y = jk({ h1, h2, h3 })                          -- a list of [N, channels] tensors
-- cat: concatenation along the channels; max: the elementwise maximum over the layers; lstm: a
-- bidirectional LSTM (hidden (num_layers * channels) // 2, batch_first) reads each node's
-- layer sequence, att (Linear(2 * hidden, 1)) scores each layer, and the result is the
-- softmax-weighted sum of the layer representations.
-- Parameters (PyG's names, lstm mode only): lstm.weight_ih_l0, lstm.weight_hh_l0,
-- lstm.bias_ih_l0, lstm.bias_hh_l0, the same with _reverse, att.weight, att.bias (torch's
-- initialisation).
local graphids = require "graphids"
local core = require "graphids.core"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local linear = require "graphids.nn.linear"
local rnn = require "graphids.nn.rnn"
local C = require "graphids.nn.gnn._common"

local JumpingKnowledge = class("JumpingKnowledge", Module)

local MODES = { cat = true, max = true, lstm = true }

function JumpingKnowledge:__init(mode, opts)
  Module.__init(self)
  local o = U.options("JumpingKnowledge", opts,
    C.defaults({ channels = U.NONE, num_layers = U.NONE }), U.CTOR)
  mode = type(mode) == "string" and mode:lower() or mode
  if not MODES[mode] then
    error("JumpingKnowledge: mode must be 'cat', 'max' or 'lstm', got " .. tostring(mode), U.CTOR)
  end
  self.mode = mode
  if mode == "lstm" then
    if o.channels == nil or o.num_layers == nil then
      error("JumpingKnowledge: mode 'lstm' needs the options channels and num_layers", U.CTOR)
    end
    C.check_positive("JumpingKnowledge", "channels", o.channels)
    C.check_positive("JumpingKnowledge", "num_layers", o.num_layers)
    self.channels, self.num_layers = o.channels, o.num_layers
    local hidden = (o.num_layers * o.channels) // 2
    if hidden < 1 then
      error("JumpingKnowledge: (num_layers * channels) // 2 must be at least 1", U.CTOR)
    end
    local f = { dtype = o.dtype, device = o.device }
    self.lstm = rnn.LSTM(o.channels, hidden, { bidirectional = true, batch_first = true,
      dtype = f.dtype, device = f.device })
    self.att = linear.Linear(2 * hidden, 1, f)
  end
end

function JumpingKnowledge:reset_parameters()
  if self.lstm then
    self.lstm:reset_parameters()
    self.att:reset_parameters()
  end
end

local function check_list(self, xs)
  if type(xs) ~= "table" or graphids.is_tensor(xs) or #xs == 0 then
    error("JumpingKnowledge: expected a non-empty list of [N, channels] tensors, got " ..
      (graphids.is_tensor(xs) and "a tensor" or type(xs)), 3)
  end
  local first = xs[1]
  for i, x in ipairs(xs) do
    if not graphids.is_tensor(x) then
      error(string.format("JumpingKnowledge: xs[%d] must be a tensor, got %s", i, type(x)), 3)
    end
    if x:dim() ~= first:dim() or (self.mode ~= "cat" and U.shape_str(x) ~= U.shape_str(first)) then
      error(string.format("JumpingKnowledge: xs[%d] has shape %s, xs[1] has %s", i,
        U.shape_str(x), U.shape_str(first)), 3)
    end
  end
  if self.mode == "lstm" then
    if first:dim() ~= 2 or first:size(2) ~= self.channels then
      error(string.format("JumpingKnowledge: lstm mode expects [N, %d] tensors, got %s",
        self.channels, U.shape_str(first)), 3)
    end
  end
end

-- The lstm mode's scores: the layers time-major ([layers, N, channels], so each layer is one
-- contiguous block) through core.bilstm, the whole bidirectional LSTM in one op on the CPU and
-- on a GPU (its input projections and gradients batched over the layers, no per-step ops; on
-- an H100 nn.LSTM's per-step ops, stacks and concatenations cost the large GAT at 1024 graphs
-- several milliseconds a step).  Under autocast its products run in TF32 (it has no half
-- kernel; gids/amp.h), where nn.LSTM's per-step bf16 products had taken the large step at 1024
-- graphs to 32.6 ms on an H200 against 17-19 ms for bilstm with TF32.  Returns the softmax over
-- the layers, [layers, N], and the stacked layers.
local LSTM_PARAMS = { "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
  "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse" }

local function lstm_attention(self, xs)
  local x = graphids.stack(xs, 1)                         -- [layers, N, channels]
  local w = {}
  for i, name in ipairs(LSTM_PARAMS) do
    w[i] = rawget(self.lstm, name)                        -- nil biases: none
  end
  local h = core.bilstm(x, table.unpack(w, 1, 8))         -- [layers, N, 2 * hidden]
  return self.att(h):squeeze(3):softmax(1), x
end

-- forward(xs) -> cat: [N, sum of channels]; max and lstm: [N, channels]
function JumpingKnowledge:forward(xs)
  check_list(self, xs)
  local last = xs[1]:dim()
  if self.mode == "cat" then
    return graphids.cat(xs, last)
  elseif self.mode == "max" then
    return (graphids.stack(xs, last + 1):max(last + 1))
  end
  local alpha, x = lstm_attention(self, xs)
  return core.jk_sum(x, alpha) -- sum over the layers of alpha * x, one pass
end

function JumpingKnowledge:extra_repr()
  if self.mode == "lstm" then
    return string.format("lstm, channels=%d, layers=%d", self.channels, self.num_layers)
  end
  return self.mode
end

return { JumpingKnowledge = JumpingKnowledge }
