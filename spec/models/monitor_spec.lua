-- Each model class names the metric its checkpoints and early stopping follow (cls.MONITOR, which
-- the configuration enforces): that metric must be one its validation_step logs, or every fit
-- of the class would stop at the first epoch's "monitored metric was not logged".
local graphids = require "graphids"
local models = require "graphids.models"
local graphs = require "models.graphs"

local FUSION_PRESET = { DQNFusion = "dqn", BanditFusion = "bandit", MLPFusion = "mlp",
  WeightedAvgFusion = "weighted_avg" }
local GRAPH_PRESET = { GATClassifier = "gat", VGAE = "vgae", DGI = "dgi" }

describe("model monitors", function()
  it("are logged by every model class's validation_step", function()
    local fusion_batch = { states = graphids.rand({ 8, 15 }), labels = graphids.randint(2, { 8 }) }
    local seen = {}
    for _, cp in ipairs(models.class_paths()) do
      local cls = models.resolve(cp)
      if cls.MONITOR ~= nil then
        local name = cp:match("([^.]+)$")
        local m, batch
        if FUSION_PRESET[name] then
          m, batch = cls(models.presets.fusion[FUSION_PRESET[name]]()), fusion_batch
        else
          assert(GRAPH_PRESET[name], "a model class this spec does not know: " .. cp)
          m = cls(models.presets[GRAPH_PRESET[name]].small({ num_ids = 10 }))
          batch = graphs.batch({ num_ids = 10 })
        end
        m:eval()
        local logs = m:validation_step(batch, { generator = graphids.Generator(1), epoch = 0 })
        local v = logs[cls.MONITOR[1]]
        if graphids.is_tensor(v) then -- logged values may stay 0-d tensors (read by the trainer)
          assert.same({}, v.shape, cp .. " logs " .. cls.MONITOR[1] .. " as a tensor of rank > 0")
          v = v:item()
        end
        assert.is_number(v, cp .. " does not log " .. cls.MONITOR[1])
        assert.truthy(cls.MONITOR[2] == "min" or cls.MONITOR[2] == "max", cp)
        seen[#seen + 1] = name .. ":" .. cls.MONITOR[1]
      end
    end
    assert.same({ "DGI:val_loss", "GATClassifier:val_loss", "VGAE:val_loss", "BanditFusion:val_acc",
      "DQNFusion:val_acc", "MLPFusion:val_loss", "WeightedAvgFusion:val_loss" }, seen)
  end)
end)
