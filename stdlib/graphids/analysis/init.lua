-- graphids.analysis -- looking inside trained models, the reference's `analyze` in library form:
--   embeddings(model, loader, {fn})       per-graph embeddings and labels       (representation)
--   cka(x, y)                             linear CKA of two representations     (representation)
--   attention(model, batch, {forward})    every attention layer's coefficients  (attention)
--   attention_entropy(layer, num_nodes)   per-node entropy of one layer's       (attention)
--   loss_landscape(model, loader, opts)   the loss on a 2-D slice of weights    (landscape)
--   fusion_policy(model, loader)          a fusion policy's alpha per window    (policy)
-- `graphids analyze` runs them on a stage's checkpoint and writes the results into the run dir.
local M = {}

for _, name in ipairs({ "representation", "attention", "landscape", "policy" }) do
  for k, v in pairs(require("graphids.analysis." .. name)) do
    M[k] = v
  end
end

return M
