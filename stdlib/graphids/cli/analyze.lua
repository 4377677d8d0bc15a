-- graphids.cli.analyze -- `graphids analyze --config RECIPE [...] [--ckpt-path P]`: the
-- reference's `analyze` on a stage's checkpoint: embeddings, attention, CKA against a
-- distillation teacher, the loss landscape and a fusion policy's choices, written as
-- safetensors files with a JSON summary (graphids.analysis computes them).
-- Exit codes: 0 written, 1 an error, 2 usage.
local A = require "graphids.orchestrate.cliargs"
local fit = require "graphids.cli.fit"

local M = {}

M.summary = "analysis artifacts of one stage's checkpoint"

local KINDS = { "embeddings", "attention", "cka", "landscape", "policy" }

local USAGE = [[
usage: graphids analyze --config RECIPE [--tla KEY=VALUE]... [--set A.B=VALUE]... [--data-root DIR]
                        [--lake-root DIR] [--ckpt-path P] [--split NAME] [--only LIST]
                        [--max-graphs N] [--landscape-steps N] [--landscape-span X]
                        [--landscape-graphs N] [--seed N] [--output-dir DIR]

Loads the stage's best checkpoint (<run dir>/checkpoints/best_model.safetensors, or P), checked
against the configured model and the data's vocabulary, and analyses it on one split's graphs.
Writes into <run dir>/artifacts (or DIR), replacing what an earlier analysis wrote there once
every new file is written (a fit sets the folder aside, as it does the old predictions):
  embeddings.safetensors  per-graph embeddings and labels (graph models)
  attention.safetensors   every attention layer's edge_index and alpha over the sampled graphs
                          (nodes numbered across them), their node ids, graph of each node and
                          labels
  landscape.safetensors   the validation loss on a grid around the weights, along two
                          filter-normalised random directions (coords, loss)
  policy.safetensors      a DQN or bandit fusion policy's alpha per window, the two experts'
                          scores, the labels and the count of each action
  analysis.json           what was written, the checkpoint's (and a teacher's) SHA-256, and
                          the summary figures (per-layer attention entropy by class, CKA
                          against a distillation teacher, the landscape's centre and range,
                          the policy's mean alpha by class; a NaN or infinite figure is null,
                          named with what it was under "nonfinite")
A checkpoint that is not the run dir's own, a configuration other than the one its fit recorded,
or another distillation teacher needs --output-dir: its results are not the run's.

]] .. fit.OPTIONS:gsub("resume from this checkpoint %(checked against the model and vocabulary%)",
  "analyse this checkpoint instead of the run dir's best one") .. [[
  --split NAME        the graphs analysed: train, val (default) or a test set's name
  --only LIST         comma-separated: embeddings, attention, cka, landscape, policy (default:
                      each that applies to the model)
  --max-graphs N      embeddings, attention and policy over up to N graphs: whole batches spread
                      evenly over the split, so each of its captures is represented (default
                      4096)
  --landscape-steps N the grid's points per direction (default 51, the reference's; odd puts
                      the trained weights at the centre)
  --landscape-span X  the grid's reach along each direction, in filter norms (default 1)
  --landscape-graphs N  the loss is the mean over up to N graphs spread over the split
                      (default 256)
  --seed N            the landscape's directions and draws (default 0)
  --output-dir DIR    where the files go (default <run dir>/artifacts)
]]

-- Every file an analysis may write (an earlier analysis's are removed when a new one's are ready).
local FILES = { "embeddings.safetensors", "attention.safetensors", "landscape.safetensors",
  "policy.safetensors", "analysis.json" }

local SPEC = { value = { "--config", "--ckpt-path", "--data-root", "--lake-root", "--split", "--only",
  "--max-graphs", "--landscape-steps", "--landscape-span", "--landscape-graphs", "--seed",
  "--output-dir" }, multi = { "--tla", "--set" },
  nonempty = { "--ckpt-path", "--data-root", "--lake-root", "--output-dir" } }

local POLICIES = { ["graphids.models.fusion.DQNFusion"] = true,
  ["graphids.models.fusion.BanditFusion"] = true }

-- An integer option >= least, its default, or nil and a usage message.
local function int_option(o, name, default, least)
  local v = o[name]
  if v == nil then return default end
  local n = math.tointeger(tonumber(v))
  if n == nil or n < least then
    return nil, string.format("%s must be an integer >= %d, got '%s'", name, least, v)
  end
  return n
end

-- The parsed numeric and list options, or nil and a usage message.
local function options(o)
  local out = {}
  for _, s in ipairs({ { "--max-graphs", "max_graphs", 4096, 1 }, { "--landscape-steps", "steps", 51, 2 },
    { "--landscape-graphs", "landscape_graphs", 256, 1 }, { "--seed", "seed", 0, 0 } }) do
    local v, err = int_option(o, s[1], s[3], s[4])
    out[s[2]] = v
    if err then return nil, err end
  end
  out.span = 1.0
  if o["--landscape-span"] ~= nil then
    out.span = tonumber(o["--landscape-span"])
    if out.span == nil or not (out.span > 0 and out.span < math.huge) then
      return nil, string.format("--landscape-span must be a finite number > 0, got '%s'",
        o["--landscape-span"])
    end
  end
  if o["--only"] ~= nil then
    out.only = {}
    for w in (o["--only"] .. ","):gmatch("([^,]*),") do
      local known = false
      for _, k in ipairs(KINDS) do known = known or k == w end
      if not known then
        return nil, string.format("--only: unknown analysis '%s' (one of %s)%s", w, table.concat(KINDS, ", "),
          A.suggest(w, KINDS))
      end
      out.only[w] = true
    end
  end
  out.split = o["--split"] or "val"
  return out
end

-- Which analyses apply to the model, each true or the reason it does not.
local function applicable(model)
  local analysis = require "graphids.analysis"
  local name = model.class_path or "the model"
  local policy = POLICIES[model.class_path] == true
  return {
    embeddings = type(model.graph_embedding) == "function"
      or (name .. " gives no per-graph embedding"),
    attention = #analysis.attention_layers(model) > 0 or (name .. " has no attention layer"),
    cka = require("graphids.models.distill").teacher_of(model) ~= nil
      or (name .. " has no distillation teacher (CKA compares a student with its teacher)"),
    -- (a reason is a string, truthy: `not policy or reason` would pass a policy on)
    landscape = (policy and (name .. " is a policy scored by reward; it has no loss surface"))
      or #analysis.landscape_parameters(model) > 0
      or (name .. " has no trainable parameter of two or more dimensions: its surface would be flat"),
    policy = policy or (name .. " is not a fusion policy (DQN or bandit)"),
  }
end

-- "model.distillation.teacher_ckpt" when the configured teacher is not the one the run dir's
-- student was distilled from (another path whose content differs; a moved lake's same file is
-- the same teacher), else nil.  The record's keys ignore upstream paths (they move with a lake),
-- and a CKA against another teacher would be recorded as the student's.
local function other_teacher(r)
  local key = "model.distillation.teacher_ckpt"
  local ok, stored, now = pcall(require("graphids.orchestrate.record").flat_record, r)
  if not ok or stored == nil or now[key] == nil or stored[key] == now[key] then return nil end
  local json, gio = require "graphids.json", require "graphids.io"
  local old, new = json.decode(stored[key]), json.decode(now[key])
  local rd = require "graphids.orchestrate.run_dir"
  if type(old) ~= "string" or type(new) ~= "string" or rd.same_dir_key(old) == rd.same_dir_key(new) then
    return nil
  end
  local graphids = require "graphids"
  if gio.exists(old) and gio.exists(new) and graphids.sha256_file(old) == graphids.sha256_file(new) then
    return nil
  end
  return key
end

-- The output folder, or nil and why one must be named.
local function output_dir(o, r, path)
  if o["--output-dir"] ~= nil then return o["--output-dir"] end
  if r.run_dir == nil then
    return nil, "the configuration has no run dir (trainer.default_root_dir is empty); give --output-dir"
  end
  local ckpt = require "graphids.ckpt"
  if not ckpt.same_as_any(path, r.ckpt_file, r.last_ckpt) then
    return nil, string.format("%s is not a checkpoint of %s; give --output-dir", path, r.run_dir)
  end
  local record = require "graphids.orchestrate.record"
  local changed = record.changes(r, record.TESTED) or other_teacher(r)
  if changed ~= nil then
    return nil, string.format("%s was trained with other settings (%s); give --output-dir", r.run_dir,
      changed)
  end
  return require("graphids.io").join(r.run_dir, require("graphids.orchestrate.stage").ARTIFACTS)
end

-- The summary as JSON can hold it: each NaN or infinite figure becomes null, and
-- summary.nonfinite says which it was ("cka.value" -> "nan"); JSON has no such numbers, and a
-- constant representation's CKA or a landscape that overflows is a result, not an error.
local function json_safe(v, path, found)
  if type(v) == "number" and (v ~= v or v == math.huge or v == -math.huge) then
    found[path] = v ~= v and "nan" or (v > 0 and "inf" or "-inf")
    return require("graphids.json").null
  end
  if type(v) ~= "table" or v == require("graphids.json").null then return v end
  local out = setmetatable({}, getmetatable(v)) -- (keeps json.array/json.object marks)
  for k, x in pairs(v) do
    out[k] = json_safe(x, path == "" and tostring(k) or path .. "." .. tostring(k), found)
  end
  return out
end

-- Writes the analysis's files into dir as one set: the summary is encoded and every file
-- written beside its place (.NAME.pending) first, so nothing there is replaced unless all of it
-- can be written; then what an earlier analysis wrote goes (the folder describes one analysis),
-- the new files take their names and analysis.json, which lists them, comes last.
-- outputs: list of {name, tensors}.
local function write_all(dir, outputs, summary)
  local gio = require "graphids.io"
  local json = require "graphids.json"
  local function pending(name) return gio.join(dir, "." .. name .. ".pending") end
  summary.files = json.array()
  for _, f in ipairs(outputs) do summary.files[#summary.files + 1] = gio.join(dir, f.name) end
  local found = {}
  local safe = json_safe(summary, "", found)
  if next(found) ~= nil then safe.nonfinite = found end
  local text = json.encode(safe, { indent = 2 }) .. "\n"
  for _, f in ipairs(FILES) do gio.remove_tree(pending(f)) end -- (a killed analysis's)
  for _, f in ipairs(outputs) do
    local ok, err = gio.save_safetensors(pending(f.name), f.tensors, { format = "pt" })
    if not ok then
      for _, g in ipairs(outputs) do gio.remove_tree(pending(g.name)) end
      error(string.format("cannot write %s: %s", gio.join(dir, f.name), tostring(err)), 0)
    end
  end
  for _, f in ipairs(FILES) do gio.remove_tree(gio.join(dir, f)) end
  for i, f in ipairs(outputs) do
    local ok, err = os.rename(pending(f.name), summary.files[i])
    if not ok then error(string.format("cannot write %s: %s", summary.files[i], tostring(err)), 0) end
  end
  local json_path = gio.join(dir, "analysis.json")
  local ok, err = gio.atomic_write(json_path, text)
  if not ok then error(string.format("cannot write %s: %s", json_path, tostring(err)), 0) end
  return json_path
end

-- Mean of v [N] over the rows where mask [N] holds, nil when none does.
local function masked_mean(v, mask)
  local n = mask:sum():item()
  if n == 0 then return nil end
  return (v:double() * mask:double()):sum():item() / n
end

-- Every attention layer over the batches, numbered across them: node i of batch k is node
-- (nodes of the batches before k) + i, graph j of it graph (graphs before k) + j.
local function run_attention(analysis, model, batches, summary)
  local graphids = require "graphids"
  local per_layer, order = {}, {}
  local ids, graph_of, labels = {}, {}, {}
  local nodes, graphs = 0, 0
  for _, b in ipairs(batches) do
    local n = b.x:size(1)
    for _, l in ipairs(analysis.attention(model, b)) do
      if per_layer[l.name] == nil then
        per_layer[l.name] = { kind = l.kind, ei = {}, alpha = {}, entropy = {} }
        order[#order + 1] = l.name
      end
      local t = per_layer[l.name]
      t.ei[#t.ei + 1] = l.edge_index + nodes
      t.alpha[#t.alpha + 1] = l.alpha
      t.entropy[#t.entropy + 1] = analysis.attention_entropy(l, n)
    end
    ids[#ids + 1] = b.node_id:to("cpu")
    graph_of[#graph_of + 1] = b.batch:to("cpu") + graphs
    if b.y ~= nil then labels[#labels + 1] = b.y:to("cpu") end
    nodes, graphs = nodes + n, graphs + b.num_graphs
  end
  local tensors = { node_id = graphids.cat(ids, 1), batch = graphids.cat(graph_of, 1) }
  local node_attack
  if #labels == #batches then
    tensors.labels = graphids.cat(labels, 1)
    node_attack = tensors.labels:index_select(1, tensors.batch):ne(0)
  end
  local rows = {}
  for _, name in ipairs(order) do
    local t = per_layer[name]
    tensors[name .. ".edge_index"] = graphids.cat(t.ei, 2)
    tensors[name .. ".alpha"] = graphids.cat(t.alpha, 1)
    local ent = graphids.cat(t.entropy, 1)
    local row = { layer = name, kind = t.kind, heads = tensors[name .. ".alpha"]:size(2),
      edges = tensors[name .. ".alpha"]:size(1), mean_entropy = ent:double():mean():item() }
    if node_attack ~= nil then
      row.mean_entropy_benign = masked_mean(ent, node_attack:logical_not())
      row.mean_entropy_attack = masked_mean(ent, node_attack)
    end
    rows[#rows + 1] = row
  end
  summary.attention = { graphs = graphs, nodes = nodes, layers = rows }
  return { name = "attention.safetensors", tensors = tensors }
end

local function run_landscape(analysis, model, batches, opts, summary)
  local A2 = require "graphids.analysis._common"
  local ls = analysis.loss_landscape(model, A2.list_loader(batches), { steps = opts.steps, span = opts.span,
    seed = opts.seed })
  summary.landscape = { steps = opts.steps, span = opts.span, seed = opts.seed, graphs = ls.graphs,
    center = ls.center, min = ls.loss:min():item(), max = ls.loss:max():item(),
    nonfinite_points = ls.loss:isfinite():logical_not():sum():item(),
    directions = "filter-normalised Gaussian; one-dimensional parameters held" }
  return { name = "landscape.safetensors", tensors = { coords = ls.coords, loss = ls.loss } }
end

local function run_policy(analysis, model, batches, summary)
  local A2 = require "graphids.analysis._common"
  local p = analysis.fusion_policy(model, A2.list_loader(batches))
  summary.policy = { windows = p.alphas:numel(), mean_alpha = p.mean_alpha, accuracy = p.accuracy,
    counts = p.counts:totable() }
  return { name = "policy.safetensors", tensors = { alphas = p.alphas, labels = p.labels, scores = p.scores,
    anomaly = p.anomaly, gat_prob = p.gat_prob, counts = p.counts } }
end

local function cka_summary(analysis, model, device, batches, graphs, student_emb, teacher_path)
  local D = require "graphids.trainer.device"
  local A2 = require "graphids.analysis._common"
  local teacher = require("graphids.models.distill").teacher_of(model)
  D.model(teacher, device)
  local t = analysis.embeddings(teacher, A2.list_loader(batches))
  D.model(teacher, "cpu") -- where distillation keeps it
  local path = teacher_path
  local value = analysis.cka(t.embeddings, student_emb)
  return { teacher_embedding_width = t.embeddings:size(2), graphs = graphs, value = value,
    undefined = value ~= value and "one of the two embeddings is constant over these graphs (0/0)" or nil,
    teacher = path, teacher_sha256 = path and require("graphids").sha256_file(path) or nil }
end

-- The analyses of opts.only, or each that applies (a list in KINDS order); an asked-for one that
-- does not apply is an error.
local function choose(model, only)
  local apply = applicable(model)
  local chosen = {}
  for _, k in ipairs(KINDS) do
    if only == nil then
      if apply[k] == true then chosen[#chosen + 1] = k end
    elseif only[k] then
      if apply[k] ~= true then error(string.format("--only %s: %s", k, apply[k]), 0) end
      chosen[#chosen + 1] = k
    end
  end
  if #chosen == 0 then error("no analysis applies to " .. tostring(model.class_path), 0) end
  return chosen
end

-- Runs the chosen analyses; returns the summary table.
local function analyse(r, opts, path, dir)
  local stage = require "graphids.orchestrate.stage"
  local analysis = require "graphids.analysis"
  local A2 = require "graphids.analysis._common"
  local D = require "graphids.trainer.device"
  local ckpt = require "graphids.ckpt"
  local gio = require "graphids.io"
  -- (built without the run dir, and checked as test checks it: a failure is not written into
  -- the run's trace, analysing is no phase of the stage)
  -- a distilled student's teacher runs in CKA and in the loss landscape (its validation loss is
  -- the distillation loss); the other analyses build the student without it
  local teacher_use = "CKA and the loss landscape run it; --only embeddings,attention analyses the " ..
    "student without it"
  if opts.only and not opts.only.cka and not opts.only.landscape then teacher_use = false end
  local art = stage.build(require("graphids.orchestrate.record").unrecorded(r), { teacher_use = teacher_use })
  local model, device = art.model, art.trainer.device
  ckpt.check_compat(path, model, { vocab_digest = require("graphids.orchestrate.instantiate")
    .vocab_digest(art.datamodule) })
  model:load_state_dict(ckpt.load(path).model)
  D.model(model, device)
  local chosen = choose(model, opts.only)
  local splits = { "train", "val" }
  for _, name in ipairs(art.datamodule.test_names or {}) do splits[#splits + 1] = name end
  local known = false
  for _, name in ipairs(splits) do known = known or name == opts.split end
  if not known then
    error(string.format("--split: no split '%s' in this data (%s)%s", opts.split, table.concat(splits, ", "),
      A.suggest(opts.split, splits)), 0)
  end
  local loader = art.datamodule:eval_loader(opts.split)
  -- graphs spread over the whole split, on the model's device
  local function sample(n)
    local list, count = A2.spread(loader, n)
    local moved = {}
    for i, b in ipairs(list) do moved[i] = D.batch(b, device) end
    return moved, count
  end
  local ok, err = gio.mkdir_p(dir)
  if not ok then error(string.format("cannot create %s: %s", dir, tostring(err)), 0) end
  local summary = { stage = r.stage_name, checkpoint = path, split = opts.split, model = model.class_path,
    checkpoint_sha256 = require("graphids").sha256_file(path) }
  local outputs = {}
  local function wrote(o) outputs[#outputs + 1] = o end
  local main, graphs, emb -- the sample of embeddings, attention, CKA and policy; its embeddings
  local function embeddings()
    emb = emb or analysis.embeddings(model, A2.list_loader(main))
    return emb
  end
  for _, k in ipairs(chosen) do
    if k ~= "landscape" and main == nil then main, graphs = sample(opts.max_graphs) end
    if k == "embeddings" then
      local e = embeddings()
      summary.embeddings = { graphs = graphs, width = e.embeddings:size(2) }
      wrote({ name = "embeddings.safetensors", tensors = { embeddings = e.embeddings, labels = e.labels } })
    elseif k == "cka" then
      local kd = r.validated.model.distillation
      summary.cka = cka_summary(analysis, model, device, main, graphs, embeddings().embeddings,
        kd and kd.teacher_ckpt)
    elseif k == "attention" then
      wrote(run_attention(analysis, model, main, summary))
    elseif k == "landscape" then
      wrote(run_landscape(analysis, model, (sample(opts.landscape_graphs)), opts, summary))
    elseif k == "policy" then
      wrote(run_policy(analysis, model, main, summary))
    end
  end
  local json_path = write_all(dir, outputs, summary)
  summary.files[#summary.files + 1] = json_path
  return summary
end

function M.main(args)
  local o, code = A.parse_command("analyze", args, SPEC, USAGE)
  if o == nil then return code end
  local opts, oerr = options(o)
  if not opts then return A.usage_error("analyze", oerr, USAGE) end
  local r
  r, code = fit.resolved_or_exit("analyze", o, USAGE)
  if not r then return code end
  local path
  path, code = fit.checkpoint_or_exit("analyze", o, r, "analyse")
  if not path then return code end
  local okd, dir, derr = pcall(output_dir, o, r, path)
  if not okd then return A.fail("analyze", dir) end
  if dir == nil then return A.fail("analyze", derr) end
  if o["--output-dir"] ~= nil then
    -- (the run dir is the stage's record: analysing another checkpoint must not create one)
    r = require("graphids.orchestrate.record").unrecorded(r)
  end
  local ok, summary = pcall(analyse, r, opts, path, dir)
  if not ok then return A.fail("analyze", summary) end
  for _, f in ipairs(summary.files) do io.stdout:write(f, "\n") end
  return 0
end

return M
