-- recipes/datasets.lua -- the dataset catalog: where each dataset's train and test captures live
-- under a data root (<data_root>/<name>/<sub-folder>/**/*.csv).  Read by graphids.data.catalog,
-- which adds the attack-type rule (docs/data.md).  Test sets are the listed test sub-folders that
-- are present; every listed train sub-folder must be present.
local KNOWN_UNKNOWN = {
  "test_01_known_vehicle_known_attack",
  "test_02_unknown_vehicle_known_attack",
  "test_03_known_vehicle_unknown_attack",
  "test_04_unknown_vehicle_unknown_attack",
}
local TRAIN = { "train_01_attack_free", "train_02_with_attacks" }

local function can_train_and_test(n)
  return {
    source = "can-train-and-test set " .. n .. " (Lampe & Meng, 2024; CC BY 4.0)",
    train = TRAIN,
    test = {
      KNOWN_UNKNOWN[1], KNOWN_UNKNOWN[2], KNOWN_UNKNOWN[3], KNOWN_UNKNOWN[4],
      "test_05_suppress", "test_06_masquerade",
    },
  }
end

return {
  hcrl_ch = {
    source = "HCRL Car-Hacking dataset (challenge)",
    train = TRAIN,
    test = { "test_01_DoS", "test_02_fuzzing", "test_03_gear_spoofing", "test_04_rpm_spoofing" },
  },
  hcrl_sa = {
    source = "HCRL Survival-Analysis dataset (KIA Soul, Hyundai Sonata, Chevrolet Spark)",
    train = TRAIN,
    test = KNOWN_UNKNOWN,
  },
  set_01 = can_train_and_test("01"),
  set_02 = can_train_and_test("02"),
  set_03 = can_train_and_test("03"),
  set_04 = can_train_and_test("04"),
  synthetic = {
    source = "built-in CAN traffic simulator (graphids.data.simulate), deterministic by seed",
    train = TRAIN,
    test = KNOWN_UNKNOWN,
    simulated = true,
    -- Frames per capture file and the simulator's seed when the raw folder is generated.
    frames = 25000,
    seed = 0,
  },
}
