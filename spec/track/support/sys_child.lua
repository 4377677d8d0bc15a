-- spec/track/support/sys_child.lua -- a tracked fit that the system metrics resume spec starts,
-- kills and resumes (spec/track/sysmetrics_resume_spec.lua):
--   graphids run spec/track/support/sys_child.lua RUN_DIR URI [KILL_EPOCH] [AWAY_EPOCH] [NODE_ID]
-- A tiny fit of 4 epochs tracked into URI by graphids.track.Callback, system metrics sampled at
-- every hook (a clock that moves 1 s a reading, interval 0.5 s).  Resumes from
-- RUN_DIR/checkpoints/last.safetensors, into the run named by RUN_DIR/ref, when that file
-- exists.  KILL_EPOCH: SIGKILL to itself at the end of that epoch's first batch (after the
-- checkpoint of the epoch before it).  AWAY_EPOCH: at that epoch's start the FileStore root
-- (URI is file:ROOT) is moved to ROOT.away and a file put in its place, so the events after it
-- are spooled (a store that went down during the fit); the spec moves it back.  Writes the
-- run's reference to RUN_DIR/ref as the fit starts.
package.path = "spec/?.lua;" .. package.path
local class = require "graphids.class"
local Callback = require "graphids.callbacks.base"
local T = require "graphids.trainer"
local tiny = require "trainer.support.tiny"
local track = require "graphids.track"
local gio = require "graphids.io"

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local args = { ... }
local run_dir, uri = assert(args[1]), assert(args[2])
local kill_epoch, away_epoch = tonumber(args[3] or ""), tonumber(args[4] or "")
local node_id = args[5]

local ref_path = run_dir .. "/ref"
local last = run_dir .. "/checkpoints/last.safetensors"
local resume = gio.read_file(ref_path)
local t = 0
local cb = track.Callback { run_dir = run_dir, uri = uri, experiment = "sysresume", run_name = "fit",
  resume = resume, system_metrics_interval = 0.5, system_metrics_node_id = node_id,
  store_opts = { max_retries = 0, notify = function() end },
  system_metrics = { clock = function()
    t = t + 1
    return t
  end } }

local Killer = class("Killer", Callback)
function Killer.on_fit_start()
  write(ref_path, cb.run:ref())
end
function Killer.on_train_epoch_start(_, trainer)
  if trainer.epoch == away_epoch then
    local root = uri:gsub("^file:", "")
    assert(os.rename(root, root .. ".away"))
    write(root, "not a folder")
  end
end
function Killer.on_train_batch_end(_, trainer, _, batch_index)
  if trainer.epoch == kill_epoch and batch_index <= 1 then
    io.stdout:flush()
    os.execute("kill -9 $PPID") -- the shell's parent: this process
  end
end

local trainer = T.Trainer { max_epochs = 4, default_root_dir = run_dir, progress = "off",
  callbacks = { cb, Killer() } }
local ckpt_path = gio.exists(last) and resume and last or nil
local data = tiny.DataModule { n = 32, batch_size = 8, seed = 2 }
trainer:fit(tiny.MLP { in_dim = 4, hidden = 8, seed = 3 }, data, { ckpt_path = ckpt_path })
print("done")
