-- portable_spec.lua -- why the portable graphs exist, on real traffic: with a vocabulary of the
-- Kia's normal ids, a Spark capture (hcrl_sa's unseen vehicle) folds into one or two nodes per
-- window with the reference's keying, keeps its ~48 ids per window with node_by_id, and the
-- vocabulary of every train frame (fuzzing included) knows nearly all 2048 11-bit ids.
-- Skips with a reason when hcrl_sa is not there.
local skip = require "skip"
local env = require "specenv"
local data = require "graphids.data"

local DIR = env.DATA .. "/hcrl_sa"
local KIA = DIR .. "/train_01_attack_free/attack-free-kia.csv"
local FUZZ = DIR .. "/train_02_with_attacks/fuzzing-sonata.csv"
local SPARK = DIR .. "/test_04_unknown_vehicle_unknown_attack/malfunction-spark.csv"

local function readable(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

local function mean_nodes(set)
  return set.x:size(1) / set.num_graphs
end

describe("portable graphs on hcrl_sa", function()
  if skip.unless(readable(KIA) and readable(FUZZ) and readable(SPARK), "hcrl_sa is not under " .. DIR) then
    return
  end
  local kia, fuzz, spark = data.read_can(KIA), data.read_can(FUZZ), data.read_can(SPARK)

  it("keeps an unseen vehicle's ids apart only with node_by_id", function()
    local vocab = data.Vocabulary.from_frames({ kia }, { benign_only = true })
    local folded = data.build_windows { files = { spark }, vocab = vocab }
    local by_id = data.build_windows { files = { spark }, vocab = vocab, node_by_id = true }
    assert.equal(folded.num_graphs, by_id.num_graphs)
    assert.equal(797, by_id.num_graphs)
    assert.is_true(mean_nodes(folded) < 6, "reference keying: " .. mean_nodes(folded))
    assert.is_true(mean_nodes(by_id) > 40, "node_by_id: " .. mean_nodes(by_id))
    -- the unknown ids are UNK either way: only the node structure differs
    local unk = by_id.node_id:eq(0):sum():item()
    assert.is_true(unk / by_id.x:size(1) > 0.9)
    -- every window's edges still join consecutive frames: W - 2 of them
    assert.equal(by_id.edge_attr:size(1), folded.edge_attr:size(1))
  end)

  it("leaves the ids only fuzzing injects out of a benign vocabulary", function()
    local all = data.Vocabulary.from_frames({ kia, fuzz })
    local benign = data.Vocabulary.from_frames({ kia, fuzz }, { benign_only = true })
    assert.is_true(#all.ids > 2000, #all.ids .. " ids")
    assert.is_true(#benign.ids < 80, #benign.ids .. " ids")
    for _, id in ipairs(benign.ids) do
      assert.is_true(all:index(id) > 0, id)
    end
  end)
end)
