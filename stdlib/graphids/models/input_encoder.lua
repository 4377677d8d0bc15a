-- graphids.models.input_encoder -- the first block of every graph model (the reference's
-- InputEncoder): node vector = cat(id_encoder(node_id), Linear(in, proj_dim)(x)) when
-- proj_dim > 0, else cat(id_encoder(node_id), x).
--   local enc = InputEncoder(id_enc, 35, { proj_dim = 32 })   -- enc.out_dim = id_enc.out_dim + 32
--   local h = enc(x, node_id, batch_vec)          -- [N, out_dim]; batch_vec (optional) is handed
--                                                 -- to the id encoder (graph-level UNK drop)
-- The id encoder is built by the model from its class path (build_id_encoder below).
local graphids = require "graphids"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local errors = require "graphids.errors"
local class = require "graphids.class"
local linear = require "graphids.nn.linear"

local M = {}

local InputEncoder = class("InputEncoder", Module)

function InputEncoder:__init(id_encoder, in_channels, opts)
  Module.__init(self)
  local o = U.options("InputEncoder", opts, { proj_dim = 0 }, U.CTOR)
  U.check_size("InputEncoder", "in_channels", in_channels)
  U.check_size("InputEncoder", "proj_dim", o.proj_dim)
  self.id_encoder = id_encoder
  self.in_channels, self.proj_dim = in_channels, o.proj_dim
  if o.proj_dim > 0 then
    self.feat_proj = linear.Linear(in_channels, o.proj_dim)
  end
  self.out_dim = id_encoder.out_dim + (o.proj_dim > 0 and o.proj_dim or in_channels)
end

function InputEncoder:forward(x, node_id, graph_of)
  if not U.is_tensor(x) or x.ndim ~= 2 or x:size(2) ~= self.in_channels then
    error(string.format("InputEncoder: x must be [N, %d], got %s", self.in_channels,
      U.is_tensor(x) and U.shape_str(x) or type(x)), 0)
  end
  if not U.is_tensor(node_id) or node_id:numel() ~= x:size(1) then
    error(string.format("InputEncoder: node_id must hold one id per node (%d), got %s",
      x:size(1), U.is_tensor(node_id) and U.shape_str(node_id) or type(node_id)), 0)
  end
  local id_emb = self.id_encoder(node_id, graph_of)
  if self.feat_proj then
    x = self.feat_proj(x)
  end
  return graphids.cat({ id_emb, x }, 2)
end

M.InputEncoder = InputEncoder

-- The id encoder a model's hyper-parameters name: class path, kwargs, num_ids, embedding_dim.
function M.build_id_encoder(hp)
  local resolve = require("graphids.models").resolve
  local cls = resolve(hp.id_encoder_class_path)
  if type(cls.from_vocab_size) ~= "function" then
    error(string.format("id_encoder_class_path '%s' is not an id encoder (no from_vocab_size)",
      hp.id_encoder_class_path), 0)
  end
  local kw = { embedding_dim = hp.embedding_dim }
  for _, k in ipairs(U.sorted_keys(hp.id_encoder_kwargs or {})) do
    if k == "embedding_dim" then
      error("id_encoder_kwargs: embedding_dim is the model's hyper-parameter, not a kwarg", 0)
    end
    local v = hp.id_encoder_kwargs[k]
    -- integral floats (kwargs read back from JSON) as integers: k, seed, num_buckets
    kw[k] = math.type(v) == "float" and math.tointeger(v) or v
  end
  -- its errors name the hyper-parameter they came from (an unknown option is a key of it)
  local ok, enc = pcall(cls.from_vocab_size, hp.num_ids, kw)
  if not ok then
    error("id_encoder_kwargs: " .. errors.strip_own_position(enc), 0)
  end
  return enc
end

return M
