-- sigkill_spec.lua -- exact resume: a real child process (spec/trainer/support/train_child.lua)
-- is killed with SIGKILL at random (seeded) moments, possibly twice, then resumed from `last`
-- until it completes.  Its final weights, metrics and checkpoint files (best, last and their
-- sidecars) must equal the uninterrupted run's byte for byte -- including the best-checkpoint
-- choice and the early-stopping stop (the tiny child's run stops early at patience 3).  After
-- each kill every checkpoint on disk must load and verify (never torn), and a finished run
-- leaves no temp or pending files.  Two children: the tiny MLP (six trials; set
-- GRAPHIDS_SIGKILL_TRIALS for a longer hunt) and the GAT classifier on simulated CAN windows
-- through GraphDataModule (two trials, one kill each).  A third child keeps the two best
-- checkpoints under a filename template (save_top_k = 2): its whole checkpoint folder must equal
-- the uninterrupted run's, no file that dropped out left and none kept lost.
local gio = require "graphids.io"
local json = require "graphids.json"
local ckpt = require "graphids.ckpt"
local proc = require "trainer.support.proc"

local CHILD = "spec/trainer/support/train_child.lua"
local FILES = { "checkpoints/best_model.safetensors", "checkpoints/best_model.safetensors.sha256",
  "checkpoints/last.safetensors", "checkpoints/last.safetensors.sha256", "final.safetensors",
  "final_metrics.json", ".train_complete" }

local function now()
  return require("graphids").clock()
end

-- The checkpoint folder's files (sidecars included), sorted.
local function checkpoint_files(dir)
  local out = {}
  for _, e in ipairs(gio.list_dir(gio.join(dir, "checkpoints")) or {}) do
    if not e:match("^%.") then out[#out + 1] = "checkpoints/" .. e end
  end
  table.sort(out)
  return out
end

-- Runs the uninterrupted reference, then `trials` killed-and-resumed runs; returns the
-- reference's final metrics.  child_args(dir) gives the child's arguments.  With whole_folder
-- the reference's whole checkpoint folder is compared (and must be all there is), not the best
-- and last files alone.
local function check_trials(dirs, child_args, trials, max_kills, whole_folder)
  local ref = proc.tmpdir()
  dirs[#dirs + 1] = ref
  local t0 = now()
  local _, err, rc = proc.run(child_args(ref))
  local span = now() - t0
  assert.equal(0, rc, err)
  local files = FILES
  if whole_folder then
    files = { "final.safetensors", "final_metrics.json", ".train_complete",
      table.unpack(checkpoint_files(ref)) }
  end
  local want = {}
  for _, f in ipairs(files) do
    want[f] = assert(proc.slurp(gio.join(ref, f)), "reference run did not write " .. f)
  end
  local mid_run, trial = 0, 0
  -- More trials (up to twice as many) when none hit a run between its first checkpoint and its
  -- end (a loaded machine can shift the timings).
  while trial < trials or (mid_run == 0 and trial < 2 * trials) do
    trial = trial + 1
    local d = proc.tmpdir()
    dirs[#dirs + 1] = d
    for kill = 1, math.random(1, max_kills) do
      local pid = proc.spawn(child_args(d), gio.join(d, "child" .. kill .. ".log"))
      proc.sleep(math.random() * span)
      local was_alive = proc.alive(pid)
      proc.kill9(pid)
      local done = gio.exists(gio.join(d, ".train_complete"))
      if was_alive and not done and gio.exists(gio.join(d, "checkpoints/last.safetensors")) then
        mid_run = mid_run + 1
      end
      -- Never torn: whatever is on disk loads and matches its sidecar.
      for _, f in ipairs(checkpoint_files(d)) do
        local p = gio.join(d, f)
        if f:match("%.safetensors$") then
          local ok, e = pcall(ckpt.load, p)
          assert(ok, string.format("trial %d, kill %d: %s", trial, kill, tostring(e)))
        end
      end
    end
    local _, e2, rc2 = proc.run(child_args(d))
    assert.equal(0, rc2, e2)
    for _, f in ipairs(files) do
      local got = proc.slurp(gio.join(d, f))
      assert(got == want[f], string.format("trial %d: %s differs from the uninterrupted run", trial, f))
    end
    if whole_folder then
      local got = checkpoint_files(d)
      assert(#got == #files - 3, string.format("trial %d: the checkpoint folder holds %s; the " ..
        "uninterrupted run's: %s", trial, table.concat(got, " "), table.concat(checkpoint_files(ref), " ")))
    end
    for _, e in ipairs(gio.list_dir(gio.join(d, "checkpoints"))) do
      assert(e == ".lock" or not e:match("^%."), "trial " .. trial .. " left " .. e)
    end
  end
  assert(mid_run > 0, "no kill landed between the first checkpoint and the end of a run")
  return json.decode(want["final_metrics.json"])
end

describe("exact resume after SIGKILL", function()
  local dirs = {}
  after_each(function()
    for _, d in ipairs(dirs) do
      proc.rmtree(d)
    end
    dirs = {}
  end)

  it("gives the uninterrupted run's files, byte for byte, wherever the kills land", function()
    math.randomseed(20261126)
    local trials = math.tointeger(tonumber(os.getenv("GRAPHIDS_SIGKILL_TRIALS") or "6"))
    local final = check_trials(dirs, function(d) return { "run", CHILD, d } end, trials, 2)
    assert.is_true(final.should_stop, "the reference run should stop early (early stopping)")
  end)

  it("does so keeping the 2 best under a filename template (save_top_k = 2)", function()
    math.randomseed(20260311)
    local trials = math.tointeger(tonumber(os.getenv("GRAPHIDS_SIGKILL_TRIALS") or "6"))
    check_trials(dirs, function(d) return { "run", CHILD, d, "14", "3", "topk" } end, trials, 2, true)
  end)

  it("does so for the GAT classifier on CAN windows (GraphDataModule position, dropout RNG)", function()
    math.randomseed(7)
    local lake = proc.tmpdir()
    dirs[#dirs + 1] = lake
    local n = math.tointeger(tonumber(os.getenv("GRAPHIDS_SIGKILL_TRIALS") or ""))
    check_trials(dirs, function(d) return { "run", CHILD, d, "4", "3", "gat", lake } end,
      n and math.max(2, n // 3) or 2, 1)
  end)
end)
