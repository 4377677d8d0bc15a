-- id_encoder_spec.lua -- LookupIdEncoder and HashIdEncoder: lookups, UNK drop, the hash buckets
-- against hand-computed values, bucket sizing, out-of-vocabulary ids and bad arguments.
local graphids = require "graphids"
local h = require "helpers"
local E = require "graphids.models.id_encoder"

describe("LookupIdEncoder", function()
  it("returns the embedding rows of the ids", function()
    local enc = E.LookupIdEncoder(6, 3)
    local ids = h.long({ 0, 5, 2, 2 })
    local want = enc.embedding.weight:index_select(1, ids)
    assert.is_true(graphids.equal(enc(ids), want))
    assert.equal(3, enc.out_dim)
  end)

  it("raises for an id beyond the vocabulary, naming it, unless oov = 'unk'", function()
    local enc = E.LookupIdEncoder(6, 3)
    h.errors("LookupIdEncoder: node_id 6 at position 1 is outside the vocabulary %(num_ids 6%)",
      enc, h.long({ 1, 6 }))
    h.errors("node_id %-1 at position 0 is negative", enc, h.long({ -1 }))
    local unk = E.LookupIdEncoder(6, 3, { oov = "unk" })
    local got = unk(h.long({ 9, 1 }))
    assert.is_true(graphids.equal(got:select(1, 1), unk.embedding.weight:select(1, 1)))
    h.errors("negative", unk, h.long({ -2 }))
  end)

  it("replaces ids by UNK with probability p_unk_drop in training mode only", function()
    local enc = E.LookupIdEncoder(4, 2, { p_unk_drop = 1.0 })
    local ids = h.long({ 1, 2, 3 })
    local unk = enc.embedding.weight:select(1, 1):unsqueeze(1):expand({ 3, 2 })
    assert.is_true(graphids.equal(enc(ids), unk))
    enc:eval()
    assert.is_true(graphids.equal(enc(ids), enc.embedding.weight:index_select(1, ids)))
    -- p = 0.5: about half are dropped, reproducibly with a generator
    local half = E.LookupIdEncoder(4, 2, { p_unk_drop = 0.5 })
    local many = graphids.full({ 4000 }, 3)
    half.generator = graphids.Generator(7)
    local a = half(many)
    half.generator = graphids.Generator(7)
    assert.is_true(graphids.equal(a, half(many)))
    local unk_value = half.embedding.weight:select(1, 1):select(1, 1):item()
    local dropped = a:select(2, 1):eq(unk_value):sum():item()
    assert.is_true(dropped > 1800 and dropped < 2200, "dropped " .. dropped)
  end)

  it("replaces every id of a whole graph by UNK with probability p_unk_graph", function()
    local enc = E.LookupIdEncoder(8, 2, { p_unk_graph = 0.5 })
    -- 400 graphs of 5 nodes, ids 1..7
    local ids, graph_of = {}, {}
    for g = 0, 399 do
      for k = 1, 5 do
        ids[#ids + 1] = 1 + (g + k) % 7
        graph_of[#graph_of + 1] = g
      end
    end
    ids, graph_of = h.long(ids), h.long(graph_of)
    enc.generator = graphids.Generator(3)
    local out = enc(ids, graph_of)
    local unk = enc.embedding.weight:select(1, 1)
    local is_unk = out:eq(unk:unsqueeze(1):expand(out.shape)):all(2):long():totable()
    local dropped_graphs = 0
    for g = 0, 399 do
      local n = 0
      for k = 1, 5 do
        n = n + is_unk[g * 5 + k]
      end
      -- all or nothing per graph
      assert.is_true(n == 0 or n == 5, "graph " .. g .. " has " .. n .. " UNK nodes")
      dropped_graphs = dropped_graphs + (n == 5 and 1 or 0)
    end
    assert.is_true(dropped_graphs > 160 and dropped_graphs < 240, "dropped " .. dropped_graphs)
    -- eval mode: no replacement; without the batch vector in training: a clear error
    enc:eval()
    assert.is_true(graphids.equal(enc(ids, graph_of), enc.embedding.weight:index_select(1, ids)))
    enc:train()
    h.errors("p_unk_graph needs the graph of each node %(the batch vector, 2000 entries%)", enc, ids)
    h.errors("p_unk_graph must be in %[0, 1%]", E.LookupIdEncoder, 4, 2, { p_unk_graph = -0.1 })
  end)

  it("builds from a vocabulary size and rejects bad arguments", function()
    local enc = E.LookupIdEncoder.from_vocab_size(12, { embedding_dim = 5, p_unk_drop = 0.1 })
    assert.same({ 12, 5 }, enc.embedding.weight.shape)
    h.errors("p_unk_drop must be in %[0, 1%]", E.LookupIdEncoder, 4, 2, { p_unk_drop = 1.5 })
    h.errors("num_ids must be a positive integer", E.LookupIdEncoder, 0, 2)
    h.errors("unknown option 'k'", E.LookupIdEncoder.from_vocab_size, 4, { embedding_dim = 2, k = 2 })
    h.errors("node_id must be 1%-D", E.LookupIdEncoder(4, 2), h.long({ { 1 } }))
  end)
end)

describe("HashIdEncoder", function()
  it("hashes (id * 2654435761 + seed + i 2^30) mod num_buckets and sums the k rows", function()
    local enc = E.HashIdEncoder(10, 3, { k = 2, seed = 42 })
    assert.same({ 42, 42 + (1 << 30) }, enc._hash_offsets:totable())
    local ids = { 0, 1, 7, 123456 }
    local b = enc:buckets(h.long(ids)):totable()
    for i, id in ipairs(ids) do
      for p = 1, 2 do
        assert.equal((id * 2654435761 + 42 + (p - 1) * (1 << 30)) % 10, b[i][p])
      end
    end
    local w = enc.embedding.weight
    local want = w:select(1, b[3][1] + 1) + w:select(1, b[3][2] + 1)
    h.near(enc(h.long({ 7 })):select(1, 1):totable(), want:totable(), 1e-6)
  end)

  it("sizes the table to the next power of two of 4 x num_ids (at least 8)", function()
    assert.equal(8192, E.HashIdEncoder.from_vocab_size(2047, { embedding_dim = 8 }).num_buckets)
    assert.equal(8, E.HashIdEncoder.from_vocab_size(1, { embedding_dim = 2 }).num_buckets)
    assert.equal(64, E.HashIdEncoder.from_vocab_size(16, { embedding_dim = 2 }).num_buckets)
    assert.equal(100, E.HashIdEncoder.from_vocab_size(16, { embedding_dim = 2,
      num_buckets = 100 }).num_buckets)
  end)

  it("keeps the offsets in the state_dict and hashes unseen ids, but not negative ones", function()
    local enc = E.HashIdEncoder(16, 2, { k = 3, seed = 1 })
    assert.same({ "_hash_offsets", "embedding.weight" }, enc:state_dict():keys())
    assert.same({ 1, 2 }, enc(h.long({ 99999 })).shape)
    h.errors("node_id %-3 at position 1 is negative", enc, h.long({ 0, -3 }))
    h.errors("num_buckets must be an integer >= 2", E.HashIdEncoder, 1, 2)
    h.errors("k must be an integer >= 1", E.HashIdEncoder, 8, 2, { k = 0 })
  end)
end)
