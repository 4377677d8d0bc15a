-- luacheck configuration for `make lint`.
std = "lua54"
max_line_length = 110
files["spec"] = { std = "+busted" }
-- Recipes run in graphids.config's sandbox, which provides these names (docs/recipes.md).
files["recipes"] = { read_globals = { "import", "arguments", "merge", "model_preset" } }
exclude_files = { "build/", "build-*/" }
