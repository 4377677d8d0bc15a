-- graphids.analysis.representation -- the per-graph embeddings a model gives a loader's graphs,
-- and linear CKA (centered kernel alignment) between two representations, the measure the
-- reference used to compare a distilled student with its teacher.
--   local t = analysis.embeddings(teacher, dm:val_loader())  -- {embeddings [N, d], labels [N]}
--   local s = analysis.embeddings(student, dm:val_loader())
--   analysis.cka(t.embeddings, s.embeddings)                 --> 0.87 (1: the same up to a
--                                                            --   rotation and a scale)
local graphids = require "graphids"
local A = require "graphids.analysis._common"
local U = require "graphids.nn._util"

local M = {}

-- The default embedding of a batch: model:graph_embedding(batch) where the model has one (GAT
-- classifier: the pooled embedding its head reads; VGAE and DGI: the mean-pooled latent), else
-- the second result of model(batch).
local function default_embedding(model, batch)
  if type(model.graph_embedding) == "function" then
    return model:graph_embedding(batch)
  end
  local _, emb = model(batch)
  return emb
end

-- {embeddings [N, d] f32 (CPU), labels [N] (when the batches have y)} over every batch of loader,
-- the model in eval mode and without grad (its training mode is restored afterwards).
-- opts.fn(model, batch) -> [B, d] picks another representation (default: model:graph_embedding,
-- else the second result of model(batch)).
function M.embeddings(model, loader, opts)
  opts = U.options("analysis.embeddings", opts, { fn = U.NONE })
  A.check_loader("analysis.embeddings", loader)
  local fn = opts.fn or default_embedding
  if type(fn) ~= "function" then error("analysis.embeddings: opts.fn must be a function", 2) end
  local embs, labels = {}, {}
  local ok, err = pcall(A.in_eval, model, function()
    local i = 0
    for batch in loader:iter(0) do
      i = i + 1
      local e = fn(model, batch)
      if not graphids.is_tensor(e) or e.ndim ~= 2 then
        error(string.format("analysis.embeddings: batch %d: the representation must be a [B, d] tensor, "
          .. "got %s (pass opts.fn(model, batch) for a model whose second result is not one)", i,
          A.describe(e)), 0)
      end
      embs[#embs + 1] = e:detach():to("cpu"):to("f32")
      if graphids.is_tensor(batch.y) then labels[#labels + 1] = batch.y:to("cpu") end
    end
  end)
  if not ok then error(err, 2) end
  if #embs == 0 then error("analysis.embeddings: the loader gave no batches", 2) end
  return { embeddings = graphids.cat(embs, 1),
    labels = #labels == #embs and graphids.cat(labels, 1) or nil }
end

local function centered(x, fname, what)
  if not graphids.is_tensor(x) or x.ndim ~= 2 then
    error(string.format("%s: %s must be a 2-D tensor [N, d], got %s", fname, what,
      graphids.is_tensor(x) and (x.ndim .. " dims") or type(x)), 3)
  end
  x = x:detach():to("cpu"):to("f64")
  return x - x:mean(1, { keepdim = true })
end

-- Linear CKA of two representations of the same N examples, x [N, p] and y [N, q]:
-- ||yc^T xc||_F^2 / (||xc^T xc||_F ||yc^T yc||_F) with xc, yc centered over the examples,
-- computed in f64 (Kornblith et al. 2019).  1 for representations equal up to an orthogonal
-- transform and a scale, near 0 for unrelated ones; NaN when one of them is constant.
function M.cka(x, y)
  local xc, yc = centered(x, "analysis.cka", "x"), centered(y, "analysis.cka", "y")
  if xc:size(1) ~= yc:size(1) then
    error(string.format("analysis.cka: x has %d rows and y %d; they must describe the same examples",
      xc:size(1), yc:size(1)), 2)
  end
  local cross = (yc:t():matmul(xc)):pow(2):sum():item()
  local xx = (xc:t():matmul(xc)):pow(2):sum():sqrt():item()
  local yy = (yc:t():matmul(yc)):pow(2):sum():sqrt():item()
  return cross / (xx * yy)
end

return M
