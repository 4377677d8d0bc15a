local data = require "graphids.data"
local gio = require "graphids.io"
local loader = require "graphids.data.loader"
local err_of = require("specenv").err_of

local CAT = {
  synthetic = {
    train = { "train_01_attack_free", "train_02_with_attacks" },
    test = { "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack" },
    simulated = true, frames = 1500, seed = 11,
  },
}

-- The graph numbers a batch holds, read back through window_start/source_file of the set.
local function ids_of(batch)
  local ws, sf = batch.window_start:totable(), batch.source_file:totable()
  local out = {}
  for i = 1, #ws do
    out[i] = sf[i] .. ":" .. ws[i]
  end
  return table.concat(out, ",")
end

describe("graphids.data.loader packing", function()
  it("cuts fixed batches with a smaller last one", function()
    assert.same({ { 1, 2 }, { 3, 4 }, { 5 } }, loader.fixed_batches({ 1, 2, 3, 4, 5 }, 2))
    assert.same({}, loader.fixed_batches({}, 3))
  end)

  it("packs first-fit decreasing under both budgets and skips oversize graphs", function()
    local graphs = { 10, 11, 12, 13, 14, 15 }
    local nodes = { 5, 3, 8, 2, 20, 4 }
    local edges = { 1, 1, 1, 1, 1, 1 }
    local plan, skipped = loader.pack_budget(graphs, nodes, edges, { nodes = 10, edges = 100 })
    -- 20 is skipped; 8 -> b1, 5 -> b2, 4 -> b2, 3 -> b3 (b1 has 2 left, b2 1), 2 -> b1
    assert.same({ { 12, 13 }, { 10, 15 }, { 11 } }, plan)
    assert.equal(1, skipped)
    -- the edge budget binds too
    plan, skipped = loader.pack_budget({ 0, 1, 2 }, { 1, 1, 1 }, { 6, 5, 4 }, { nodes = 100, edges = 10 })
    assert.same({ { 0, 2 }, { 1 } }, plan)
    assert.equal(0, skipped)
    plan, skipped = loader.pack_budget({ 0 }, { 1 }, { 11 }, { nodes = 100, edges = 10 })
    assert.same({}, plan)
    assert.equal(1, skipped)
  end)

  it("draws each epoch's permutation from (seed, epoch) alone", function()
    local a = loader.epoch_permutation(50, 7, 3)
    assert.same(a, loader.epoch_permutation(50, 7, 3))
    assert.are_not.same(a, loader.epoch_permutation(50, 7, 4))
    assert.are_not.same(a, loader.epoch_permutation(50, 8, 3))
    table.sort(a)
    for i = 1, 50 do
      assert.equal(i - 1, a[i])
    end
  end)
end)

describe("graphids.data.loader.Loader", function()
  it("refuses unknown, missing and inconsistent options", function()
    local plan = { { 0, 1 } }
    assert.matches("unknown option 'shufle' %(did you mean 'shuffle'%?%)",
      err_of(loader.Loader, { set = {}, plan = plan, shufle = "graphs" }))
    assert.matches("set %(a graph set%) and plan %(a list of batches%) are required",
      err_of(loader.Loader, { plan = plan }))
    assert.matches("shuffle must be false, 'graphs' or 'batches', got epochs",
      err_of(loader.Loader, { set = {}, plan = plan, shuffle = "epochs" }))
    assert.matches("shuffle = 'graphs' needs an integer batch_size >= 1, got nil",
      err_of(loader.Loader, { set = {}, plan = plan, shuffle = "graphs" }))
    local L = loader.Loader { set = {}, plan = plan, shuffle = "batches", seed = 3 }
    assert.same(plan, L:epoch_plan(0))
  end)
end)

describe("graphids.data.GraphDataModule", function()
  local lake
  setup(function()
    lake = os.tmpname()
    os.remove(lake)
    data.clear_cache_memo()
    data.build_cache("synthetic", { lake_root = lake, catalog = CAT })
  end)
  teardown(function()
    data.clear_cache_memo()
    gio.remove_tree(lake)
  end)

  local function dm_with(extra)
    local o = { dataset = "synthetic", lake_root = lake, catalog = CAT, batch_size = 4 }
    for k, v in pairs(extra or {}) do
      o[k] = v
    end
    return data.GraphDataModule(o):setup()
  end

  it("exposes the dataset's dimensions and test sets", function()
    local dm = dm_with()
    assert.equal(35, dm.in_channels)
    assert.equal(11, dm.edge_dim)
    assert.equal(2, dm.num_classes)
    assert.equal(dm.cache.metadata.num_ids, dm.num_ids)
    assert.same({ "test_01_known_vehicle_known_attack", "test_03_known_vehicle_unknown_attack" },
      dm.test_names)
  end)

  it("yields fixed-size train batches covering the train part once per epoch", function()
    local dm = dm_with()
    local L = dm:train_loader()
    local n_train = dm.cache.train_index:numel()
    assert.equal(math.ceil(n_train / 4), #L)
    local seen, count = {}, 0
    for b in L:iter(0) do
      assert.is_true(b.num_graphs <= 4)
      for k in ids_of(b):gmatch("[^,]+") do
        assert.is_nil(seen[k], "a graph twice in one epoch")
        seen[k] = true
        count = count + 1
      end
    end
    assert.equal(n_train, count)
    local val = {}
    for b in dm:val_loader():iter() do
      for k in ids_of(b):gmatch("[^,]+") do
        val[k] = true
      end
    end
    for b in L:iter(1) do
      for k in ids_of(b):gmatch("[^,]+") do
        assert.is_nil(val[k], "a val graph in the train loader")
      end
    end
  end)

  it("shuffles per epoch deterministically from the seed", function()
    local a, b = dm_with():train_loader(), dm_with():train_loader()
    local function order(L, epoch)
      local parts = {}
      for batch in L:iter(epoch) do
        parts[#parts + 1] = ids_of(batch)
      end
      return table.concat(parts, "|")
    end
    assert.equal(order(a, 0), order(b, 0))
    assert.are_not.equal(order(a, 0), order(a, 1))
    local c = data.GraphDataModule { dataset = "synthetic", lake_root = lake, catalog = CAT, batch_size = 4,
      shuffle = false }
    c:setup()
    assert.equal(order(c:train_loader(), 0), order(c:train_loader(), 5))
  end)

  it("resumes mid-epoch at the batch after the saved position", function()
    local dm = dm_with()
    dm:next_epoch()
    dm:next_epoch()
    local it = dm:train_batches()
    it()
    it()
    local st = dm:state_dict()
    assert.same({ seed = 42, epoch = 2, position = 2, batching = "fixed", label_filter = "none",
      shuffle = true, batch_size = 4, dataset = "synthetic", train_graphs = 72 }, st)
    local rest = {}
    for b in it do
      rest[#rest + 1] = ids_of(b)
    end
    local dm2 = dm_with()
    dm2:load_state_dict(st)
    local again = {}
    for b in dm2:train_batches() do
      again[#again + 1] = ids_of(b)
    end
    assert.same(rest, again)
    assert.is_true(#rest > 0)
    assert.matches("saved with seed 1",
      err_of(dm2.load_state_dict, dm2, { seed = 1, epoch = 0, position = 0 }))
    local other = dm2:state_dict()
    other.batching = "budget"
    assert.matches("saved with batching budget, this data module has batching fixed",
      err_of(dm2.load_state_dict, dm2, other))
    other.batching, other.label_filter = nil, "benign"
    assert.matches("saved with label_filter benign", err_of(dm2.load_state_dict, dm2, other))
    -- what else cuts the train graphs into batches: another cut resumes at the wrong batch
    for k, v in pairs({ batch_size = 8, shuffle = false, dataset = "hcrl_sa", train_graphs = 90 }) do
      local s2 = dm2:state_dict()
      s2[k] = v
      assert.matches("saved with " .. k .. " " .. tostring(v), err_of(dm2.load_state_dict, dm2, s2))
    end
    -- an older checkpoint's state (seed, epoch, position) still loads
    dm2:load_state_dict({ seed = 42, epoch = 1, position = 0 })
    assert.equal(1, dm2.epoch)
  end)

  it("refuses a resume position that is not a count or lies past the epoch's end", function()
    local dm = dm_with()
    local st = dm:state_dict()
    st.position = -1
    assert.matches("position must be an integer >= 0, got %-1", err_of(dm.load_state_dict, dm, st))
    st.position, st.epoch = 0, 1.5
    assert.matches("epoch must be an integer >= 0, got 1.5", err_of(dm.load_state_dict, dm, st))
    local n = #dm:train_loader():epoch_plan(0)
    st.epoch, st.position = 0, n + 1
    dm:load_state_dict(st)
    assert.matches("batch position " .. (n + 1) .. " is outside epoch 0, which has " .. n .. " batches",
      err_of(dm.train_batches, dm))
    -- the end of the epoch itself is a valid position: nothing is left to serve
    st.position = n
    dm:load_state_dict(st)
    assert.is_nil(dm:train_batches()())
  end)

  it("packs train batches under node and edge budgets, skipping and counting oversize graphs", function()
    local dm = dm_with({ batching = "budget", node_budget = 200, edge_budget = 400 })
    local L = dm:train_loader()
    local n = 0
    for b in L:iter(0) do
      assert.is_true(b.num_nodes <= 200 and b.num_edges <= 400)
      n = n + b.num_graphs
    end
    assert.equal(dm.cache.train_index:numel(), n + dm.skipped)
    assert.equal(0, dm.skipped)
    local warnings = {}
    local small = dm_with({ batching = "budget", node_budget = 1000, edge_budget = 97,
      log = function(m) warnings[#warnings + 1] = m end })
    local SL = small:train_loader()
    assert.equal(dm.cache.train_index:numel(), small.skipped) -- every window has 98 edges
    assert.equal(0, #SL)
    assert.matches("exceed the budget", warnings[1])
    -- the batch order (not the packing) changes between epochs
    local function sig(epoch)
      local p = {}
      for _, batch in ipairs(L:epoch_plan(epoch)) do
        p[#p + 1] = table.concat(batch, ",")
      end
      return p
    end
    local e0, e1 = sig(0), sig(1)
    table.sort(e0)
    table.sort(e1)
    assert.same(e0, e1)
  end)

  it("gives autoencoders a benign-only train view but never filters or shuffles eval loaders", function()
    local dm = dm_with({ label_filter = "benign" })
    local benign = 0
    for _, y in ipairs(dm.cache.train.y:index_select(1, dm.cache.train_index):totable()) do
      benign = benign + (y == 0 and 1 or 0)
    end
    local n = 0
    for b in dm:train_loader():iter(0) do
      assert.equal(0, b.y:sum():item())
      n = n + b.num_graphs
    end
    assert.equal(benign, n)
    assert.is_true(benign < dm.cache.train_index:numel())
    -- val: every val graph in stored order, batches of max(8, batch_size)
    local vl = dm:val_loader()
    local got = {}
    for b in vl:iter(3) do
      assert.is_true(b.num_graphs <= 8)
      for _, w in ipairs(b.window_start:totable()) do
        got[#got + 1] = w
      end
    end
    local want = dm.cache.train.window_start:index_select(1, dm.cache.val_index):totable()
    assert.same(want, got)
    local attacks = 0
    for name, L in dm:test_loaders() do
      local set = dm.cache.tests[name]
      local ws = {}
      for b in L:iter(7) do
        attacks = attacks + b.y:sum():item()
        for _, w in ipairs(b.window_start:totable()) do
          ws[#ws + 1] = w
        end
      end
      assert.same(set.window_start:totable(), ws)
    end
    assert.is_true(attacks > 0)
    -- predictions on the train split see every train graph, attacks included, in stored order
    local tw = {}
    for b in dm:eval_loader("train"):iter(2) do
      for _, w in ipairs(b.window_start:totable()) do
        tw[#tw + 1] = w
      end
    end
    assert.same(dm.cache.train.window_start:index_select(1, dm.cache.train_index):totable(), tw)
    assert.equal(dm:val_loader(), dm:eval_loader("val"))
    assert.equal(dm:test_loader(dm.test_names[1]), dm:eval_loader(dm.test_names[1]))
  end)

  -- A loaded cache fixes the dataset and the graph parameters: a module given other ones
  -- trained on the cache's graphs and recorded the request's dataset and seed in its state.
  it("takes a given cache's dataset and parameters, refusing other ones given too", function()
    local c = data.load_cache("synthetic", { lake_root = lake, catalog = CAT, seed = 7 })
    local dm = data.GraphDataModule { cache = c, batch_size = 4, window_size = 100, val_fraction = 0.2 }
    dm:setup()
    assert.equal(c, dm.cache)
    local st = dm:state_dict()
    assert.equal(7, st.seed)
    assert.equal("synthetic", st.dataset)
    assert.equal(7, dm:train_loader().seed)
    local msg = err_of(data.GraphDataModule, { cache = c, window_size = 60, stride = 10, seed = 5,
      dataset = "hcrl_sa", node_by_id = true, batch_size = 4 })
    assert.matches("GraphDataModule: the cache given %(" .. c.dir:gsub("%p", "%%%0") .. "%) does not hold " ..
      "the graphs asked for: dataset 'hcrl_sa' %(the cache's is 'synthetic'%), window_size 60 %(the " ..
      "cache's is 100%), stride 10 %(the cache's is 100%), seed 5 %(the cache's is 7%), node_by_id true " ..
      "%(the cache's is false%); leave these options out, or load the cache they name", msg)
    assert.matches("cache must be a dataset cache %(from data.load_cache%), got a table {}",
      err_of(data.GraphDataModule, { cache = {} }))
  end)

  -- The stale check ran only in stage.build, the fusion states' extraction and `data build`:
  -- setup() served a cache of captures changed since (a reviewer halved one: still 120 graphs).
  it("rebuilds a cache whose captures changed since, at setup, memoised or not", function()
    local root, lake2 = os.tmpname(), os.tmpname()
    os.remove(root)
    os.remove(lake2)
    local sim = data.resolve_dataset("synthetic", { lake_root = lake, catalog = CAT })
    assert(gio.mkdir_p(root))
    assert(os.execute(string.format("cp -r '%s' '%s/synthetic'", sim.dir, root)))
    -- (the log gets the build's progress lines too)
    local said = {}
    local copts = { data_root = root, lake_root = lake2, catalog = CAT, log = function(m)
      if m:find("rebuilding", 1, true) then said[#said + 1] = m end
    end }
    local function graphs()
      local o = { dataset = "synthetic", batch_size = 4 }
      for k, v in pairs(copts) do o[k] = v end
      return data.GraphDataModule(o):setup().cache.metadata.splits.train.num_graphs
    end
    local path = gio.join(root, "synthetic", sim.train[1].name)
    local function cut(keep)
      local lines = {}
      for l in io.lines(path) do lines[#lines + 1] = l end
      local fh = assert(io.open(path, "w"))
      fh:write(table.concat(lines, "\n", 1, keep(#lines)), "\n")
      fh:close()
    end
    local function rebuilt(n, before)
      assert.is_true(n < before)
      assert.equal(1, #said)
      local want = "was built from other captures than those in " .. gio.join(root, "synthetic") ..
        " now (" .. sim.train[1].name .. " has "
      assert.truthy(said[1]:find(want, 1, true), said[1])
      assert.equal(": rebuilding it from those", said[1]:sub(-26))
      table.remove(said)
    end
    local n = graphs()
    assert.equal(n, graphs())
    assert.same({}, said)
    -- half of a train capture's rows: the same process (the memo holds the old cache), then a
    -- fresh one
    cut(function(k) return (k + 1) // 2 end)
    local n2 = graphs()
    rebuilt(n2, n)
    cut(function(k) return k - 300 end)
    data.clear_cache_memo()
    rebuilt(graphs(), n2)
    -- a load that may not build names it, with the command that rebuilds it
    cut(function(k) return k - 300 end)
    local ok, msg = pcall(data.load_cache, "synthetic", { data_root = root, lake_root = lake2, catalog = CAT,
      build = false })
    assert.is_false(ok)
    assert.matches("was built from other captures than those in .- now %(.-%); rebuild it: graphids data " ..
      "rebuild %-%-dataset synthetic", msg)
    data.clear_cache_memo()
    gio.remove_tree(root)
    gio.remove_tree(lake2)
  end)

  it("refuses bad options and use before setup", function()
    assert.matches("unknown option 'batchsize'", err_of(data.GraphDataModule, { batchsize = 3 }))
    assert.matches("needs node_budget and edge_budget", err_of(data.GraphDataModule, { batching = "budget" }))
    assert.matches("node_budget must be an integer >= 1, got 40.5", err_of(data.GraphDataModule,
      { batching = "budget", node_budget = 40.5, edge_budget = 100 }))
    assert.matches("edge_budget must be an integer >= 1, got '100' %(a string%)", err_of(data.GraphDataModule,
      { batching = "budget", node_budget = 40, edge_budget = "100" }))
    assert.matches("batching must be 'fixed' or 'budget'", err_of(data.GraphDataModule, { batching = "x" }))
    assert.matches("label_filter must be nil or 'benign'",
      err_of(data.GraphDataModule, { label_filter = "y" }))
    assert.matches("eval_batch_size must be an integer >= 1, got 0",
      err_of(data.GraphDataModule, { eval_batch_size = 0 }))
    local dm = data.GraphDataModule { dataset = "synthetic", lake_root = lake, catalog = CAT }
    assert.matches("call setup%(%) first", err_of(dm.train_loader, dm))
    dm:setup()
    assert.matches("no test set 'x'", err_of(dm.test_loader, dm, "x"))
  end)
end)
