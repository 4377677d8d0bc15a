-- recipes/lib/args.lua -- the top-level arguments every recipe takes, with their defaults.
-- data_root "" means none ($GRAPHIDS_DATA_ROOT, or the simulator for `synthetic`).
-- graphs "portable" (default) builds window graphs that carry over to vehicles outside the
-- training captures; "reference" builds them exactly as the reference does (lib/stage.lua).
-- device: where every stage trains, tests and extracts ("cpu", "cuda" or "cuda:N"); it does not
-- enter the run dir, and a run made on one device is reused on another.
return {
  dataset = "synthetic",
  seed = 42,
  scale = "small",
  data_root = "",
  lake_root = "lake",
  graphs = "portable",
  device = "cpu",
}
