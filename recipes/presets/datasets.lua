-- recipes/presets/datasets.lua -- per-dataset training settings: epochs per stage, early-stopping
-- patience, batch sizes.  A dataset without an entry uses `default` (the reference's settings:
-- 300 epochs for graph stages, 1500 for fusion, patience 100 / 200).  The budgets of
-- `synthetic` (the catalog's simulated captures, 25 000 frames each) make `make run` take about
-- a minute on two quiet CPU cores (a few on a loaded machine); hcrl_sa's fit two shared cores.
local default = {
  epochs = { vgae = 300, dgi = 300, gat = 300, gat_kd = 300, fusion = 1500 },
  patience = { graph = 100, fusion = 200 },
  batch_size = 32, fusion_batch_size = 128,
}

return {
  default = default,
  synthetic = {
    epochs = { vgae = 20, dgi = 20, gat = 15, gat_kd = 10, fusion = 60 },
    patience = { graph = 10, fusion = 20 },
    batch_size = 32, fusion_batch_size = 128,
  },
  -- Few epochs (the whole pipeline in 1.5-2 minutes on two shared CPU cores: a GAT epoch over
  -- hcrl_sa's ~5 000 train graphs takes 3-5 s, a VGAE epoch over the benign ones 3-5 s).
  hcrl_sa = {
    epochs = { vgae = 15, dgi = 15, gat = 10, gat_kd = 6, fusion = 60 },
    patience = { graph = 5, fusion = 20 },
    fusion_max_train = 4000,
    batch_size = 64, fusion_batch_size = 256,
  },
}
