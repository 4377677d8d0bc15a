-- recipes/lib/args.lua -- the top-level arguments every recipe takes, with their defaults.
-- data_root "" means none ($GRAPHIDS_DATA_ROOT, or the simulator for `synthetic`).
-- graphs "portable" (default) builds window graphs that carry over to vehicles outside the
-- training captures; "reference" builds them exactly as the reference does (lib/stage.lua).
return {
  dataset = "synthetic",
  seed = 42,
  scale = "small",
  data_root = "",
  lake_root = "lake",
  graphs = "portable",
}
