-- recipes/lib/args.lua -- the top-level arguments every recipe takes, with their defaults.
-- data_root "" means none ($GRAPHIDS_DATA_ROOT, or the simulator for `synthetic`); lake_root
-- defaults to $GRAPHIDS_LAKE_ROOT, else "lake" (as the data, runs and track commands do).
-- graphs "portable" (default) builds window graphs that carry over to vehicles outside the
-- training captures; "reference" builds them exactly as the reference does (lib/stage.lua).
-- device: where every stage trains, tests and extracts ("cpu", "cuda" or "cuda:N"); it does not
-- enter the run dir, and a run made on one device is reused on another.
return {
  dataset = "synthetic",
  seed = 42,
  scale = "small",
  data_root = "",
  lake_root = (os.getenv("GRAPHIDS_LAKE_ROOT") or "") ~= "" and os.getenv("GRAPHIDS_LAKE_ROOT") or "lake",
  graphs = "portable",
  device = "cpu",
}
