-- graphids.models.presets -- the reference's model sizes (upstream §3.2-3.4) as
-- hyper-parameter tables.
--   local P = require "graphids.models.presets"
--   local hp = P.gat.small({ num_ids = 2047 })       -- a new table; extra keys override
--   local m = require("graphids.models").GATClassifier(hp)
-- Each preset is a function of a table of overrides (num_ids is always needed; it comes from
-- the dataset's vocabulary), so an override with an unknown key is caught by the model.
-- presets.fusion.<method> gives fusion hyper-parameters (dqn, bandit, mlp, weighted_avg);
-- presets.id_encoding.<arm> the id-encoder ablation arms (lookup, learned_unk, hash).
local B = require "graphids.models._base"

local P = {}

local function preset(base)
  return function(overrides)
    local hp = B.deep_copy(base)
    for k, v in pairs(overrides or {}) do
      hp[k] = B.deep_copy(v)
    end
    return hp
  end
end

-- GAT common: conv gatv2, edge_dim 11, pool mean, focal_gamma 2.0, loss_weight 10.0.
P.gat = {
  small = preset({ conv_type = "gatv2", edge_dim = 11, hidden = 24, num_layers = 2, heads = 4,
    embedding_dim = 8, proj_dim = 32, fc_layers = 2, dropout = 0.10, focal_gamma = 2.0,
    loss_weight = 10.0 }),
  large = preset({ conv_type = "gatv2", edge_dim = 11, hidden = 64, num_layers = 3, heads = 4,
    embedding_dim = 8, proj_dim = 48, fc_layers = 4, dropout = 0.11, focal_gamma = 2.0,
    loss_weight = 10.0 }),
}

-- VGAE common: gatv2, edge_dim 11, variational, mask_ratio 0.3, k_neg 32, canid 0.1,
-- nbr 0.05, kl 0.01, lr 0.002.
local function vgae(t)
  local base = { conv_type = "gatv2", edge_dim = 11, variational = true, mask_ratio = 0.3,
    k_neg = 32, canid_weight = 0.1, nbr_weight = 0.05, kl_weight = 0.01, lr = 0.002 }
  for k, v in pairs(t) do
    base[k] = v
  end
  return preset(base)
end

P.vgae = {
  small = vgae({ hidden_dims = { 80, 40, 16 }, latent_dim = 16, heads = 1, embedding_dim = 4,
    proj_dim = 32, dropout = 0.10 }),
  large = vgae({ hidden_dims = { 480, 240, 64 }, latent_dim = 64, heads = 4, embedding_dim = 32,
    proj_dim = 48, dropout = 0.15 }),
}

-- DGI: the VGAE sizes (lr 1e-3, the model's default).
P.dgi = {
  small = preset({ conv_type = "gatv2", edge_dim = 11, hidden_dims = { 80, 40, 16 },
    latent_dim = 16, heads = 1, embedding_dim = 4, proj_dim = 32, dropout = 0.10 }),
  large = preset({ conv_type = "gatv2", edge_dim = 11, hidden_dims = { 480, 240, 64 },
    latent_dim = 64, heads = 4, embedding_dim = 32, proj_dim = 48, dropout = 0.15 }),
}

-- Fusion (§3.6): the methods' defaults are the reference's; these name them.
P.fusion = {
  dqn = preset({ hidden = 128, num_layers = 3, dropout = 0.2, epsilon = 0.2,
    epsilon_decay = 0.995, min_epsilon = 0.01, lr = 1e-3, weight_decay = 1e-5,
    buffer_size = 50000, batch_size = 128 }),
  bandit = preset({ hidden = 128, num_layers = 3, dropout = 0.2, lambda = 1.0, ucb_alpha = 1.0,
    retrain_every = 50, retrain_steps = 5, lr = 1e-3, buffer_size = 100000 }),
  mlp = preset({ hidden = { 64, 32 }, dropout = 0.2, lr = 1e-3 }),
  weighted_avg = preset({ lr = 0.01 }),
}

-- The id-encoding ablation arms (the reference's configs/ablations/id_encoding): merge into a
-- model's hyper-parameters, e.g. P.gat.small(P.id_encoding.hash({ num_ids = 2047 })).
P.id_encoding = {
  lookup = preset({ id_encoder_class_path = "graphids.models.id_encoder.LookupIdEncoder",
    id_encoder_kwargs = {} }),
  learned_unk = preset({ id_encoder_class_path = "graphids.models.id_encoder.LookupIdEncoder",
    id_encoder_kwargs = { p_unk_drop = 0.1 } }),
  hash = preset({ id_encoder_class_path = "graphids.models.id_encoder.HashIdEncoder",
    id_encoder_kwargs = { k = 2, num_buckets_factor = 4 } }),
}

return P
