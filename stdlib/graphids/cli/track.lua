-- graphids.cli.track -- `graphids track sync RUN_DIR... [--uri URI]`: deliver the tracking
-- events that were spooled to RUN_DIR/tracking_spool.jsonl while the MLflow store failed.
--   graphids track sync lake/hcrl_sa/ablations/gat/base/seed_0
--   graphids track sync runs/* --uri http://mlflow.example:5000
-- Each event goes to the URI it was meant for unless --uri says otherwise; delivery is in order
-- and stops at a run's first failure, keeping what was not delivered (running it again is
-- safe: a run is created once).  Exit codes: 0 everything delivered (or nothing to do), 1 some
-- events remain, 2 usage errors.
local spool = require "graphids.track.spool"

local M = {}

M.summary = "sync RUN_DIR... [--uri URI]: deliver spooled MLflow events"

local USAGE = [[
usage: graphids track sync RUN_DIR... [--uri URI]
  Sends the events in RUN_DIR/tracking_spool.jsonl to MLflow and removes what was delivered.
  --uri URI   send everything to URI (http(s)://host:port or file:/path) instead of the
              URI each event was recorded for
]]

function M.main(args)
  local sub = args[1]
  if sub == nil or sub == "help" or sub == "--help" or sub == "-h" then
    (sub and io.stdout or io.stderr):write(USAGE)
    return sub and 0 or 2
  end
  if sub ~= "sync" then
    io.stderr:write("graphids track: unknown subcommand '", sub, "'\n", USAGE)
    return 2
  end
  local dirs, uri = {}, nil
  local i = 2
  while i <= #args do
    local a = args[i]
    if a == "--uri" then
      uri = args[i + 1]
      if uri == nil or uri == "" then
        io.stderr:write("graphids track sync: --uri needs a value\n", USAGE)
        return 2
      end
      i = i + 1
    elseif a == "--help" or a == "-h" then
      io.stdout:write(USAGE)
      return 0
    elseif a:sub(1, 1) == "-" then
      io.stderr:write("graphids track sync: unknown option '", a, "'\n", USAGE)
      return 2
    else
      dirs[#dirs + 1] = a
    end
    i = i + 1
  end
  if #dirs == 0 then
    io.stderr:write("graphids track sync: missing RUN_DIR\n", USAGE)
    return 2
  end
  local failed, total_sent, total_left = 0, 0, 0
  for _, dir in ipairs(dirs) do
    local sent, err, s2, left
    if require("graphids.io").is_dir(dir) then
      sent, err, s2, left = spool.sync(dir, { uri = uri })
    else
      err, s2, left = "not a folder", 0, 0
    end
    if sent then
      io.stdout:write(string.format("%s: %d event%s delivered\n", dir, sent, sent == 1 and "" or "s"))
      total_sent = total_sent + sent
    else
      failed = failed + 1
      total_sent, total_left = total_sent + s2, total_left + left
      io.stderr:write(string.format("graphids track sync: %s: %s (%d delivered, %d left in %s)\n", dir,
        tostring(err), s2, left, spool.path(dir)))
    end
  end
  io.stdout:write(string.format("%d run dir%s, %d event%s delivered, %d left\n", #dirs,
    #dirs == 1 and "" or "s",
    total_sent, total_sent == 1 and "" or "s", total_left))
  return failed > 0 and 1 or 0
end

return M
