-- graphids.models.id_encoder -- node-id encoders: the vector a CAN arbitration id (its vocabulary
-- index, 0 = UNK) contributes to a node.  One interface: enc(node_id [N] i64) -> [N, out_dim],
-- enc.out_dim, Class.from_vocab_size(num_ids, {embedding_dim=, ...kwargs}).
--   local E = require "graphids.models.id_encoder"
--   local enc = E.LookupIdEncoder(2047, 8, { p_unk_drop = 0.1 })    -- embedding.weight [2047, 8]
--   local h = E.HashIdEncoder.from_vocab_size(2047, { embedding_dim = 8, k = 2 })  -- 8192 buckets
--   local v = enc(batch.node_id)                                      -- [N, 8]
--   local v = enc(batch.node_id, batch.batch)    -- with p_unk_graph > 0: the graph of each node
-- A model names its encoder by class path and kwargs (hyper-parameters id_encoder_class_path,
-- id_encoder_kwargs) and builds it with from_vocab_size; the state_dict names are the
-- reference's (embedding.weight; HashIdEncoder adds the buffer _hash_offsets).
--
-- Ids outside the vocabulary: LookupIdEncoder raises for an id >= num_ids unless its option
-- oov = "unk" maps such ids to UNK (0); negative ids always raise.  HashIdEncoder hashes any
-- non-negative id (that is its point), negative ids raise.
--
-- Train-time UNK replacement (LookupIdEncoder): p_unk_drop replaces each node's id by UNK on its
-- own; p_unk_graph replaces every id of a whole graph (the graph of each node is the second
-- argument, the batch vector).  The graph-level drop shows the model graphs made only of
-- unknown ids with their true labels, as traffic of a vehicle outside the vocabulary looks, so
-- it cannot learn "unknown id means attack" from attacks that inject unseen ids.
local graphids = require "graphids"
local Module = require "graphids.nn.module"
local U = require "graphids.nn._util"
local class = require "graphids.class"
local embedding = require "graphids.nn.embedding"

local M = {}

M.UNK_INDEX = 0
-- Knuth's multiplicative-hash constant (2^32 (sqrt 5 - 1) / 2, rounded), the reference's.
M.KNUTH_MULT = 2654435761

local function check_ids(name, ids)
  if not U.is_tensor(ids) or (ids.dtype ~= "i64" and ids.dtype ~= "i32") then
    error(string.format("%s: node_id must be an i64 tensor, got %s", name,
      U.is_tensor(ids) and ids.dtype or type(ids)), 0)
  end
  if ids.ndim ~= 1 then
    error(string.format("%s: node_id must be 1-D, got shape %s", name, U.shape_str(ids)), 0)
  end
  if ids.dtype == "i32" then
    ids = ids:long()
  end
  return ids
end

-- The first id (value and 0-based position) failing pred, for error messages.
local function first_bad(ids, bad_mask)
  local pos = bad_mask:nonzero():select(2, 1):select(1, 1):item()
  return ids:select(1, pos + 1):item(), pos
end

-- --------------------------------------------------------------------------- LookupIdEncoder
local Lookup = class("LookupIdEncoder", Module)
Lookup.class_path = "graphids.models.id_encoder.LookupIdEncoder"

function Lookup:__init(num_ids, embedding_dim, opts)
  Module.__init(self)
  local o = U.options("LookupIdEncoder", opts, { p_unk_drop = 0.0, p_unk_graph = 0.0, oov = "error" },
    U.CTOR)
  if math.type(num_ids) ~= "integer" or num_ids < 1 then
    error("LookupIdEncoder: num_ids must be a positive integer, got " .. tostring(num_ids),
      U.CTOR)
  end
  if math.type(embedding_dim) ~= "integer" or embedding_dim < 1 then
    error("LookupIdEncoder: embedding_dim must be a positive integer, got " ..
      tostring(embedding_dim), U.CTOR)
  end
  if o.p_unk_drop < 0 or o.p_unk_drop > 1 then
    error("LookupIdEncoder: p_unk_drop must be in [0, 1], got " .. tostring(o.p_unk_drop),
      U.CTOR)
  end
  if o.p_unk_graph < 0 or o.p_unk_graph > 1 then
    error("LookupIdEncoder: p_unk_graph must be in [0, 1], got " .. tostring(o.p_unk_graph),
      U.CTOR)
  end
  if o.oov ~= "error" and o.oov ~= "unk" then
    error("LookupIdEncoder: oov must be 'error' or 'unk', got " .. tostring(o.oov), U.CTOR)
  end
  self.num_ids, self.out_dim = num_ids, embedding_dim
  self.p_unk_drop, self.p_unk_graph, self.oov = o.p_unk_drop, o.p_unk_graph, o.oov
  -- draws of the UNK drop; a model sets it from its step context (nil: the default generator)
  self.generator = nil
  self.embedding = embedding.Embedding(num_ids, embedding_dim)
end

function Lookup.from_vocab_size(num_ids, kwargs)
  local o = U.options("LookupIdEncoder.from_vocab_size", kwargs,
    { embedding_dim = U.NONE, p_unk_drop = 0.0, p_unk_graph = 0.0, oov = "error" })
  return Lookup(num_ids, o.embedding_dim, { p_unk_drop = o.p_unk_drop,
    p_unk_graph = o.p_unk_graph, oov = o.oov })
end

function Lookup:forward(node_id, graph_of)
  local ids = check_ids("LookupIdEncoder", node_id)
  -- the bounds first (int_range: no wait for a GPU when the ids came from the host), the
  -- masks only when an id is out of range
  local lo, hi = ids:int_range()
  if lo < 0 then
    local v, pos = first_bad(ids, ids:lt(0))
    error(string.format("LookupIdEncoder: node_id %d at position %d is negative", v, pos), 0)
  end
  if hi >= self.num_ids then
    local over = ids:ge(self.num_ids)
    if self.oov == "unk" then
      ids = ids:masked_fill(over, M.UNK_INDEX)
    else
      local v, pos = first_bad(ids, over)
      error(string.format("LookupIdEncoder: node_id %d at position %d is outside the " ..
        "vocabulary (num_ids %d); build the encoder with oov = 'unk' to map unknown ids " ..
        "to UNK (0)", v, pos, self.num_ids), 0)
    end
  end
  if self.training and self.p_unk_drop > 0 and ids:numel() > 0 then
    local drop = graphids.rand({ ids:numel() }, { generator = self.generator }):to(ids.device)
      :lt(self.p_unk_drop)
    ids = ids:masked_fill(drop, M.UNK_INDEX)
  end
  if self.training and self.p_unk_graph > 0 and ids:numel() > 0 then
    if not U.is_tensor(graph_of) or graph_of.ndim ~= 1 or graph_of:numel() ~= ids:numel() then
      error(string.format("LookupIdEncoder: p_unk_graph needs the graph of each node (the batch " ..
        "vector, %d entries) as the second argument, got %s", ids:numel(),
        U.is_tensor(graph_of) and U.shape_str(graph_of) or type(graph_of)), 0)
    end
    local _, last = graph_of:int_range()
    local ng = last + 1
    local drop = graphids.rand({ ng }, { generator = self.generator }):lt(self.p_unk_graph)
      :to(ids.device):index_select(1, graph_of)
    ids = ids:masked_fill(drop, M.UNK_INDEX)
  end
  return self.embedding(ids)
end

function Lookup:extra_repr()
  return string.format("num_ids=%d, embedding_dim=%d, p_unk_drop=%g, p_unk_graph=%g, oov=%s",
    self.num_ids, self.out_dim, self.p_unk_drop, self.p_unk_graph, self.oov)
end

M.LookupIdEncoder = Lookup

-- --------------------------------------------------------------------------- HashIdEncoder
local Hash = class("HashIdEncoder", Module)
Hash.class_path = "graphids.models.id_encoder.HashIdEncoder"

function Hash:__init(num_buckets, embedding_dim, opts)
  Module.__init(self)
  local o = U.options("HashIdEncoder", opts, { k = 2, seed = 42 }, U.CTOR)
  if math.type(num_buckets) ~= "integer" or num_buckets < 2 then
    error("HashIdEncoder: num_buckets must be an integer >= 2, got " .. tostring(num_buckets),
      U.CTOR)
  end
  if math.type(embedding_dim) ~= "integer" or embedding_dim < 1 then
    error("HashIdEncoder: embedding_dim must be a positive integer, got " ..
      tostring(embedding_dim), U.CTOR)
  end
  if math.type(o.k) ~= "integer" or o.k < 1 then
    error("HashIdEncoder: k must be an integer >= 1, got " .. tostring(o.k), U.CTOR)
  end
  if math.type(o.seed) ~= "integer" then
    error("HashIdEncoder: seed must be an integer, got " .. tostring(o.seed), U.CTOR)
  end
  self.num_buckets, self.out_dim, self.k, self.seed = num_buckets, embedding_dim, o.k, o.seed
  self.embedding = embedding.Embedding(num_buckets, embedding_dim)
  -- k decorrelated probes, offsets seed + i * 2^30, kept as a buffer so a checkpoint holds them
  local offsets = {}
  for i = 0, o.k - 1 do
    offsets[i + 1] = o.seed + i * (1 << 30)
  end
  self:register_buffer("_hash_offsets", graphids.tensor(offsets, { dtype = "i64" }))
end

-- The smallest power of two >= max(8, factor * num_ids), unless num_buckets is given.
function Hash.from_vocab_size(num_ids, kwargs)
  local o = U.options("HashIdEncoder.from_vocab_size", kwargs, { embedding_dim = U.NONE, k = 2,
    seed = 42, num_buckets_factor = 4, num_buckets = U.NONE })
  local nb = o.num_buckets
  if nb == nil then
    local target = math.max(8, o.num_buckets_factor * math.max(1, num_ids))
    nb = 1
    while nb < target do
      nb = nb * 2
    end
  end
  return Hash(nb, o.embedding_dim, { k = o.k, seed = o.seed })
end

-- Bucket numbers [N, k] of the ids (i64 arithmetic wraps as torch's; the remainder takes the
-- divisor's sign, so buckets are in [0, num_buckets)).
function Hash:buckets(node_id)
  local ids = check_ids("HashIdEncoder", node_id)
  if (ids:int_range()) < 0 then
    local v, pos = first_bad(ids, ids:lt(0))
    error(string.format("HashIdEncoder: node_id %d at position %d is negative", v, pos), 0)
  end
  local offsets = self._hash_offsets
  return (ids:unsqueeze(2) * M.KNUTH_MULT + offsets:to(ids.device)):remainder(self.num_buckets)
end

function Hash:forward(node_id)
  return self.embedding(self:buckets(node_id)):sum(2)
end

function Hash:extra_repr()
  return string.format("num_buckets=%d, embedding_dim=%d, k=%d, seed=%d", self.num_buckets,
    self.out_dim, self.k, self.seed)
end

M.HashIdEncoder = Hash

return M
