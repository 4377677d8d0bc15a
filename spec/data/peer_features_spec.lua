-- peer_features_spec.lua -- graphids' window graphs against an independent implementation: the
-- polars peer (bench/peer/windows_peer.py, the reference's expressions) on the first 20 000 rows
-- of three hcrl_sa captures (benign, DoS, fuzzing): same graphs, nodes, node ids, edges and
-- labels, every feature within 1e-5 relative error (+1e-7 absolute), and the reference's
-- vocabulary digest.  bench/data/windows_bench.lua runs the whole dataset.
-- Needs hcrl_sa under the CAN data root (spec/support/specenv.lua) and the peer venv
-- (tools/peer-venv.sh); skips otherwise and never installs anything.
local data = require "graphids.data"
local gio = require "graphids.io"
local skip = require "skip"
local env = require "specenv"

local ROOT = env.DATA .. "/hcrl_sa"
local FILES = { "train_01_attack_free/attack-free-kia.csv", "train_02_with_attacks/DoS-kia.csv",
  "train_02_with_attacks/fuzzing-sonata.csv" }
local ROWS = 20000

local venv, python = env.PEER_VENV, env.PEER_PYTHON

describe("window graphs against the polars peer", function()
  if skip.unless(gio.is_dir(ROOT), "hcrl_sa is not at " .. ROOT) then return end
  if skip.unless(env.peer_has("polars, safetensors, numpy"),
    "the peer venv (" .. venv .. ") with polars is not available") then
    return
  end

  it("agree on every graph, node, edge and feature of three captures", function()
    -- the first ROWS rows of each capture, in one folder that is also the vocabulary's source
    local dir = os.tmpname()
    os.remove(dir)
    assert(gio.mkdir_p(dir .. "/train"))
    local frames, rel = {}, {}
    for i, f in ipairs(FILES) do
      local name = string.format("train/%d-%s", i, f:match("[^/]+$"))
      assert(os.execute(string.format("head -n %d '%s/%s' > '%s/%s'", ROWS + 1, ROOT, f, dir, name)))
      frames[i], rel[i] = data.read_can(dir .. "/" .. name), name
    end
    local vocab = data.Vocabulary.from_frames(frames)
    local set = data.build_windows { files = frames, vocab = vocab, attack_types = { 0, 1, 2 } }
    assert.are.equal(3 * (ROWS // 100), set.num_graphs)
    local ours = dir .. "/ours.safetensors"
    assert(gio.save_safetensors(ours, {
      x = set.x, edge_index = set.edge_index, edge_attr = set.edge_attr, node_id = set.node_id,
      node_ptr = set.node_ptr, edge_ptr = set.edge_ptr, y = set.y, attack_type = set.attack_type,
      window_start = set.window_start, source_file = set.source_file,
    }))
    local p = io.popen(string.format("'%s' bench/peer/windows_peer.py --root '%s' --vocab-dirs train "
      .. "--files %s --compare '%s' 2>&1", python, dir, table.concat(rel, ","), ours))
    local out = p:read("a")
    p:close()
    gio.remove_tree(dir)
    assert.matches("windows_peer: OK " .. set.num_graphs .. " graphs", out, 1, true)
    -- the reference's vocab.json digest, computed by the peer with json.dumps + hashlib
    assert.are.equal(vocab.digest, out:match("vocab_digest (%x+)"))
    assert.are.equal(#vocab.ids, tonumber(out:match("vocab_digest %x+ (%d+)")))
  end)
end)
