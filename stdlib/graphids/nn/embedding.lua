-- graphids.nn.Embedding -- a lookup table of learned vectors.
--   local emb = nn.Embedding(1000, 8, { padding_idx = 0 })     -- weight [1000, 8], N(0, 1)
--   local v = emb(ids)                     -- ids: i64 tensor of 0-based ids -> ids.shape..., 8
--   local frozen = nn.Embedding.from_pretrained(w, { freeze = true })
-- The padding_idx row starts at zero and gets no gradient (as torch).
local Module = require "graphids.nn.module"
local F = require "graphids.nn.functional"
local init = require "graphids.nn.initializers"
local U = require "graphids.nn._util"
local class = require "graphids.class"

local M = {}

local Embedding = class("Embedding", Module)

local function check_padding(n, padding_idx)
  if padding_idx == nil then
    return nil
  end
  if math.type(padding_idx) ~= "integer" or padding_idx >= n or padding_idx < -n then
    error(string.format("Embedding: padding_idx must be an integer within num_embeddings (%d), " ..
      "got %s", n, tostring(padding_idx)), U.CTOR + 1)
  end
  return padding_idx < 0 and padding_idx + n or padding_idx
end

function Embedding:__init(num_embeddings, embedding_dim, opts)
  Module.__init(self)
  local o = U.options("Embedding", opts, { padding_idx = U.NONE, dtype = U.NONE, device = U.NONE },
    U.CTOR)
  U.check_size("Embedding", "num_embeddings", num_embeddings)
  U.check_size("Embedding", "embedding_dim", embedding_dim)
  self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
  self.padding_idx = check_padding(num_embeddings, o.padding_idx)
  self:register_parameter("weight", U.empty({ num_embeddings, embedding_dim }, o))
  self:reset_parameters()
end

function Embedding:reset_parameters()
  init.normal_(self.weight)
  if self.padding_idx ~= nil then
    U.no_grad(function() self.weight:select(1, self.padding_idx + 1):zero_() end)
  end
end

function Embedding:forward(ids)
  return F.embedding(ids, self.weight, { padding_idx = self.padding_idx })
end

function Embedding:extra_repr()
  local s = string.format("%d, %d", self.num_embeddings, self.embedding_dim)
  if self.padding_idx ~= nil then
    s = s .. ", padding_idx=" .. self.padding_idx
  end
  return s
end

-- An Embedding whose weight is (a detached view of) the given [n, dim] tensor.
-- opts: freeze = true (requires_grad off), padding_idx.
function Embedding.from_pretrained(weight, opts)
  local o = U.options("Embedding.from_pretrained", opts, { freeze = true, padding_idx = U.NONE })
  if weight.ndim ~= 2 then
    error("Embedding.from_pretrained: weight must be 2-D, got " .. U.shape_str(weight), 2)
  end
  local n, d = weight.shape[1], weight.shape[2]
  local e = Embedding(n, d, { padding_idx = o.padding_idx, dtype = weight.dtype })
  local w = weight.detach and weight:detach() or weight
  e:register_parameter("weight", w, { requires_grad = not o.freeze })
  return e
end

M.Embedding = Embedding

return M
