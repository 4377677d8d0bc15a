-- stage.checkpoint_path: the words "last" and "best" a verb is given name the run dir's own
-- checkpoints, resolved once so that every check reads the file the trainer loads.
local stage = require "graphids.orchestrate.stage"
local h = require "helpers"

describe("stage.checkpoint_path", function()
  local dir = "L/d/gat/focal/seed_1"
  local r = { run_dir = dir, ckpt_file = dir .. "/checkpoints/best_model.safetensors",
    last_ckpt = dir .. "/checkpoints/last.safetensors" }

  it("names the run dir's last and best checkpoints, and leaves a path as given", function()
    assert.equal(r.last_ckpt, stage.checkpoint_path(r, "last", "f"))
    assert.equal(r.ckpt_file, stage.checkpoint_path(r, "best", "f"))
    assert.equal("./last", stage.checkpoint_path(r, "./last", "f"))
    assert.equal("other/last.safetensors", stage.checkpoint_path(r, "other/last.safetensors", "f"))
    assert.is_nil(stage.checkpoint_path(r, nil, "f"))
  end)

  it("refuses the words without a run dir, saying what to pass", function()
    h.errors('^stage.train: checkpoint "last" names the run dir\'s last checkpoint, and this ' ..
      "configuration " ..
      "has no run dir %(trainer.default_root_dir is empty%); give a path %(a file named last: %./last%)$",
      stage.checkpoint_path, { }, "last", "stage.train")
  end)
end)
