-- graphids.cli.track -- `graphids track sync RUN_DIR... [--uri URI]`: deliver the tracking
-- events that were spooled to RUN_DIR/tracking_spool.jsonl while the MLflow store failed.
--   graphids track sync lake/hcrl_sa/ablations/gat/base/seed_0
--   graphids track sync runs/* --uri http://mlflow.example:5000
-- Each event goes to the URI it was meant for unless --uri says otherwise; delivery is in order
-- and stops at a run dir's first failure of the store, keeping what was not delivered (running
-- it again is safe: a run is created once); an event the store refuses (HTTP 4xx) is set aside
-- in RUN_DIR/tracking_spool.rejected.jsonl.  A failing run dir never stops the others.
-- Exit codes: 0 everything delivered (or nothing to do), 1 some events remain or were set
-- aside, 2 usage errors.
local spool = require "graphids.track.spool"

local M = {}

M.summary = "sync RUN_DIR... [--uri URI]: deliver spooled MLflow events"

local USAGE = [[
usage: graphids track sync RUN_DIR... [--uri URI]
  Sends the events in RUN_DIR/tracking_spool.jsonl to MLflow and removes what was delivered;
  events the store refuses are moved to RUN_DIR/tracking_spool.rejected.jsonl.
  --uri URI   send everything to URI (http(s)://host:port or file:/path) instead of the
              URI each event was recorded for
]]

-- Syncs one run dir, adding to total; false when events are left.  A Lua error (a bug, a
-- store answering garbage) is reported for this dir and the next ones still go.  down: the
-- stores found down so far (shared by the run dirs: not waited for again).
local function sync_dir(dir, uri, total, down)
  local r
  if require("graphids.io").is_dir(dir) then
    r = table.pack(pcall(spool.sync, dir, { uri = uri, down = down }))
    -- a Ctrl-C stops the whole sync, not this dir only
    if not r[1] and require("graphids.track.mlflow").is_interrupt(r[2]) then error(r[2], 0) end
    if not r[1] then r = { true, nil, tostring(r[2]), 0, 0, 0 } end
  else
    r = { true, nil, "not a folder", 0, 0, 0 }
  end
  local sent = r[2]
  local aside = (sent and r[4] or r[6]) or 0
  -- (events left out whole as late: each was named on stderr as it was skipped)
  local skipped = (sent and r[5] or r[7]) or 0
  total.aside, total.skipped = total.aside + aside, total.skipped + skipped
  local set = (aside > 0 and string.format(", %d set aside in %s", aside, spool.rejected_path(dir)) or "")
    .. (skipped > 0 and string.format(", %d left out as late", skipped) or "")
  if sent then
    io.stdout:write(string.format("%s: %d event%s delivered%s\n", dir, sent, sent == 1 and "" or "s", set))
    total.sent = total.sent + sent
    return true
  end
  local err, s2, left = r[3], r[4], r[5]
  total.sent, total.left = total.sent + s2, total.left + left
  io.stderr:write(string.format("graphids track sync: %s: %s (%d delivered, %d left in %s%s)\n", dir,
    tostring(err), s2, left, spool.path(dir), set))
  return false
end

function M.main(args)
  local sub = args[1]
  if sub == nil or sub == "help" or sub == "--help" or sub == "-h" then
    (sub and io.stdout or io.stderr):write(USAGE)
    return sub and 0 or 2
  end
  if sub ~= "sync" then
    io.stderr:write("graphids track: unknown subcommand '", sub, "'",
      require("graphids.orchestrate.cliargs").suggest(sub, { "sync" }), "\n", USAGE)
    return 2
  end
  -- (the parser of every other command: --uri=URI, a --uri given twice named)
  local o, rc = require("graphids.orchestrate.cliargs").parse_command("track sync",
    table.move(args, 2, #args, 1, {}), { value = { "--uri" }, positional = math.huge }, USAGE)
  if o == nil then return rc end
  local dirs, uri = o.positional, o["--uri"]
  if uri == "" then
    io.stderr:write("graphids track sync: --uri is empty (give the tracking URI)\n", USAGE)
    return 2
  end
  if #dirs == 0 then
    io.stderr:write("graphids track sync: missing RUN_DIR\n", USAGE)
    return 2
  end
  -- (a usage error before anything is sent: "" is no folder, and stat refuses it)
  for i, dir in ipairs(dirs) do
    if dir == "" then
      local which = #dirs > 1 and string.format(" %d of %d", i, #dirs) or ""
      io.stderr:write(string.format("graphids track sync: RUN_DIR%s is empty\n", which), USAGE)
      return 2
    end
  end
  local failed, total, down = 0, { sent = 0, left = 0, aside = 0, skipped = 0 }, {}
  for _, dir in ipairs(dirs) do
    if not sync_dir(dir, uri, total, down) then failed = failed + 1 end
  end
  io.stdout:write(string.format("%d run dir%s, %d event%s delivered, %d left%s%s\n", #dirs,
    #dirs == 1 and "" or "s", total.sent, total.sent == 1 and "" or "s", total.left,
    total.aside > 0 and string.format(", %d set aside", total.aside) or "",
    total.skipped > 0 and string.format(", %d left out as late", total.skipped) or ""))
  return (failed > 0 or total.aside > 0) and 1 or 0
end

return M
