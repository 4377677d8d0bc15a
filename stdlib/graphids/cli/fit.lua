-- graphids.cli.fit -- `graphids fit --config RECIPE [--tla k=v]... [--set a.b=v]... [--ckpt-path P]`:
-- resolve, write resolved.json/overrides.json, build, train (resuming from P when given).
-- Exit codes: 0 trained, 1 an error (bad configuration, data, checkpoint...), 2 usage.
local A = require "graphids.orchestrate.cliargs"

local M = {}

M.summary = "train one stage from a recipe"

M.OPTIONS = [[
options:
  --config RECIPE     a recipe file (recipes/stages/gat.lua, or stages/gat.lua under recipes/)
  --tla KEY=VALUE     a top-level argument of the recipe (dataset, seed, scale, data_root,
                      lake_root, graphs, device, and the recipe's own); VALUE is JSON, else a
                      string; repeatable
  --set A.B.C=VALUE   override one key of the rendered configuration; repeatable
]] .. A.ROOT_HELP .. [[
  --ckpt-path P       resume from this checkpoint (checked against the model and vocabulary);
                      "last" and "best" are the run dir's own (a file named so: ./last)
  -h, --help          this text
]]

local USAGE = [[
usage: graphids fit --config RECIPE [--tla KEY=VALUE]... [--set A.B=VALUE]... [--data-root DIR]
                    [--lake-root DIR] [--ckpt-path P]

Renders the recipe with its top-level arguments, applies the overrides, validates the result
and trains.  The run dir (trainer.default_root_dir) receives resolved.json, overrides.json,
checkpoints/, predictions/{train,val}.safetensors, traces.jsonl and .train_complete.

]] .. M.OPTIONS

-- An empty path is a usage error ("--ckpt-path is empty"), not the default it would silently
-- mean ($GRAPHIDS_DATA_ROOT for --data-root=) nor a failed look-up of "" (--config has its own).
M.SPEC = { value = { "--config", "--ckpt-path", "--data-root", "--lake-root" }, multi = { "--tla", "--set" },
  nonempty = { "--ckpt-path", "--data-root", "--lake-root" } }

-- The ResolvedConfig of parsed options, or nil, message.
function M.resolve(o)
  local config = require "graphids.config"
  if o["--config"] == nil then
    return nil, "--config is required"
  end
  if o["--config"] == "" then
    return nil, "--config needs a recipe path, got ''"
  end
  local tla, e1 = A.kv_table(o["--tla"])
  if tla then tla, e1 = A.root_shorthands(o, tla) end
  if not tla then return nil, e1 end
  local set, e2 = A.kv_list(o["--set"])
  if not set then return nil, e2 end
  local ok, r = pcall(config.resolve, o["--config"], { tla = tla, set = set })
  if not ok then return nil, tostring(r), true end
  return r
end

-- The ResolvedConfig of parsed options for command cmd, or nil and the exit code once the error
-- is printed: 1 for a configuration that does not resolve, 2 for a usage error.
function M.resolved_or_exit(cmd, o, usage)
  local r, rerr, is_config = M.resolve(o)
  if r then return r end
  if is_config then return nil, A.fail(cmd, rerr) end
  return nil, A.usage_error(cmd, rerr, usage)
end

-- --ckpt-path's value as the file it names: "last" and "best" the run dir's own checkpoints
-- (stage.checkpoint_path), anything else the path given.  Raises (caught by the command) without
-- a run dir for the words.
function M.ckpt_path_arg(cmd, o, r)
  local p = o["--ckpt-path"]
  if p == nil then return nil end
  return require("graphids.orchestrate.stage").checkpoint_path(r, p, "graphids " .. cmd)
end

-- The checkpoint a command reads (--ckpt-path, else the run dir's best), or nil and the exit
-- code once the reason is printed: without a run dir there is no best checkpoint (the model just
-- built would be used, its random weights reported as the stage's), and a checkpoint that is not
-- there is named before any data is read.  `doing`: "test", "analyse".
function M.checkpoint_or_exit(cmd, o, r, doing)
  if o["--ckpt-path"] == nil and r.run_dir == nil then
    return nil, A.fail(cmd, string.format("nothing to %s: the configuration has no run dir " ..
      "(trainer.default_root_dir is empty), so there is no best checkpoint; give --ckpt-path", doing))
  end
  local okp, given = pcall(M.ckpt_path_arg, cmd, o, r)
  if not okp then return nil, A.fail(cmd, given) end
  local path = given or r.ckpt_file
  if not require("graphids.io").exists(path) then
    return nil, A.fail(cmd, string.format("checkpoint '%s' does not exist%s", path, o["--ckpt-path"] and ""
      or " (train the stage first: graphids fit with the same arguments)"))
  end
  return path
end

function M.main(args)
  local o, err = A.parse(args, M.SPEC)
  if not o then return A.usage_error("fit", err, USAGE) end
  if o.help then io.stdout:write(USAGE) return 0 end
  local r, code = M.resolved_or_exit("fit", o, USAGE)
  if not r then return code end
  local okp, resume = pcall(M.ckpt_path_arg, "fit", o, r)
  if not okp then return A.fail("fit", resume) end
  if resume ~= nil and not require("graphids.io").exists(resume) then
    return A.fail("fit", string.format("checkpoint '%s' does not exist", resume)) -- before any data is read
  end
  -- A fresh fit replaces what the run dir holds once it starts (docs/orchestration.md, "train"):
  -- said before, so that a finished or interrupted run is not lost without a word.
  local gio = require "graphids.io"
  if resume == nil and r.run_dir ~= nil and r.last_ckpt ~= nil and gio.exists(r.last_ckpt) then
    local finished = gio.exists(gio.join(r.run_dir, ".train_complete"))
    -- (continued, it keeps the settings it was started with: a resume under others is refused)
    -- (a record that does not read is this fresh fit's to replace: no reason to refuse it here)
    local okr, refused = pcall(require("graphids.orchestrate.record").resume_problem, r)
    if not okr then refused = "its record resolved.json does not read" end
    io.stderr:write(string.format("graphids fit: %s holds %s fit; this fresh fit replaces its " ..
      "checkpoints and results once it starts (%s)\n", r.run_dir,
      finished and "a finished" or "an interrupted",
      refused or ("to continue it instead: --ckpt-path=" .. require("graphids.shell").quote(r.last_ckpt))))
  end
  local ok, res = pcall(function()
    local stage = require "graphids.orchestrate.stage"
    local art = stage.build(r)
    return stage.train(art, r, { resume_from = resume, write_run_files = true })
  end)
  if not ok then return A.fail("fit", res) end
  io.stdout:write(string.format("trained %s; best checkpoint: %s\n", r.stage_name, tostring(res
    or "(no run dir)")))
  return 0
end

return M
