-- recipes/presets/datasets.lua -- per-dataset training settings: epochs per stage, early-stopping
-- patience, batch sizes.  A dataset without an entry uses `default` (the reference's settings:
-- 300 epochs for graph stages, 1500 for fusion, patience 100 / 200).  The small budgets of
-- `synthetic` make `make run` finish in minutes on a CPU; hcrl_sa's fit two shared CPU cores.
local default = {
  epochs = { vgae = 300, dgi = 300, gat = 300, gat_kd = 300, fusion = 1500 },
  patience = { graph = 100, fusion = 200 },
  batch_size = 32, fusion_batch_size = 128,
}

return {
  default = default,
  synthetic = {
    -- The simulator's captures for this recipe set: 4 000 frames per capture (the catalog's
    -- 25 000 make a CPU run of the whole pipeline take far longer than a demo should).  Only
    -- used when the raw folder is generated (<lake_root>/raw/synthetic).
    catalog_entry = {
      train = { "train_01_attack_free", "train_02_with_attacks" },
      test = { "test_01_known_vehicle_known_attack", "test_02_unknown_vehicle_known_attack",
        "test_03_known_vehicle_unknown_attack", "test_04_unknown_vehicle_unknown_attack" },
      simulated = true, frames = 4000, seed = 0,
    },
    epochs = { vgae = 6, dgi = 6, gat = 8, gat_kd = 6, fusion = 40 },
    patience = { graph = 10, fusion = 20 },
    batch_size = 32, fusion_batch_size = 128,
  },
  -- Few epochs (the whole pipeline in about half an hour on two shared CPU cores: a GAT epoch over
  -- hcrl_sa's ~5 000 train graphs takes ~30 s, a VGAE epoch over the benign ones ~40-70 s).
  hcrl_sa = {
    epochs = { vgae = 15, dgi = 15, gat = 10, gat_kd = 6, fusion = 60 },
    patience = { graph = 5, fusion = 20 },
    fusion_max_train = 4000,
    batch_size = 64, fusion_batch_size = 256,
  },
}
