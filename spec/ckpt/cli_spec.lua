-- cli_spec.lua -- `graphids ckpt inspect FILE [--json]`: contents printed, JSON output equal to
-- ckpt.load's view, exit codes 1 (missing / corrupt file, message on stderr) and 2 (usage).
local gio = require "graphids.io"
local json = require "graphids.json"
local ckpt = require "graphids.ckpt"
local proc = require "trainer.support.proc"

describe("graphids ckpt inspect", function()
  local dir, last
  setup(function()
    dir = proc.tmpdir()
    local _, err, rc = proc.run({ "run", "spec/trainer/support/train_child.lua", dir, "2" })
    assert.equal(0, rc, err)
    last = gio.join(dir, "checkpoints/last.safetensors")
  end)
  teardown(function()
    proc.rmtree(dir)
  end)

  it("prints the checkpoint's metadata, callback state and tensors", function()
    local out, err, rc = proc.run({ "ckpt", "inspect", last })
    assert.equal(0, rc, err)
    for _, pat in ipairs({ "sidecar%s+sha256 verified", "class_path%s+spec%.trainer%.TinyMLP",
      "epoch%s+1 %(global step 24%)", "EarlyStopping{monitor=val_loss,mode=min} {\"best_score\":",
      "vocab_digest%s+abab", "model%.fc1%.weight%s+f32%s+%[16, 4%]", "rng%.trainer%s+u8%s+%[16%]",
      "optimizer%.state%.0%.exp_avg_sq", "parameters%s+114 values in 4 model tensors",
      "config digest%s+%(none%)" }) do
      assert.truthy(out:find(pat), "missing '" .. pat .. "' in:\n" .. out)
    end
  end)

  it("emits JSON with --json", function()
    local out, err, rc = proc.run({ "ckpt", "inspect", "--json", last })
    assert.equal(0, rc, err)
    local d = json.decode(out)
    local c = ckpt.load(last)
    assert.equal(c.epoch, d.epoch)
    assert.equal(c.global_step, d.global_step)
    assert.equal(c.metrics.val_loss, d.metrics.val_loss)
    assert.equal(14, #d.tensors)
    assert.equal("model.fc1.bias", d.tensors[1].name)
  end)

  it("prints non-finite state (a NaN loss, a best score of inf) as text and as tagged JSON", function()
    local p = gio.join(dir, "nonfinite.safetensors")
    ckpt.save(p, { model = { w = require("graphids").zeros(2) }, metrics = { val_loss = 0 / 0 },
      callbacks = { ES = { best_score = math.huge } } })
    local out, err, rc = proc.run({ "ckpt", "inspect", p })
    assert.equal(0, rc, err)
    assert.truthy(out:find("val_loss%s+%-?nan"), out)
    assert.truthy(out:find('ES%s+{"best_score":{"%$float":"inf"}}'), out)
    out, err, rc = proc.run({ "ckpt", "inspect", "--json", p })
    assert.equal(0, rc, err)
    local d = json.decode(out)
    assert.same({ ["$float"] = "nan" }, d.metrics.val_loss)
    assert.same({ ["$float"] = "inf" }, d.callbacks.ES.best_score)
    -- no tensor at all: an empty list (it was written as an empty object)
    local empty = gio.join(dir, "empty.safetensors")
    ckpt.save(empty, { model = {} })
    out, err, rc = proc.run({ "ckpt", "inspect", "--json", empty })
    assert.equal(0, rc, err)
    assert.truthy(out:find('"tensors": %[%]'), out)
    assert.truthy(out:find('"tensor_groups": {}'), out)
  end)

  it("escapes control characters in names and values, so no line can be forged", function()
    local p = gio.join(dir, "spoof.safetensors")
    local fake = "\nsidecar         sha256 verified"
    ckpt.save(p, { model = { ["w" .. fake] = require("graphids").zeros(1) }, class_path = "X" .. fake,
      metrics = { ["m" .. fake] = 1 } })
    os.remove(p .. ".sha256") -- as another writer's file: not verified
    local out, err, rc = proc.run({ "ckpt", "inspect", p })
    assert.equal(0, rc, err)
    assert.truthy(out:find("sidecar         missing (not verified)", 1, true), out)
    assert.is_nil(out:find("\nsidecar         sha256 verified", 1, true), out)
    assert.truthy(out:find("X\\nsidecar         sha256 verified", 1, true), out)
    assert.truthy(out:find("model.w\\nsidecar", 1, true), out)
    assert.truthy(out:find("m\\nsidecar", 1, true), out)
    -- and the format field, written by another writer
    local tensors, meta = gio.load_safetensors(p)
    meta.format = "pt" .. fake
    assert(gio.save_safetensors(p, tensors, meta))
    out, err, rc = proc.run({ "ckpt", "inspect", p })
    assert.equal(0, rc, err)
    assert.is_nil(out:find("\nsidecar         sha256 verified", 1, true), out)
  end)

  it("shows ESC and the C1 controls (U+009B: ESC [ to some terminals) escaped, never raw", function()
    local p = gio.join(dir, "c1.safetensors")
    local csi, c1 = "\27[2J", "\u{9B}31m"
    local zero = require("graphids").zeros(1)
    ckpt.save(p, { model = { ["w" .. csi] = zero, ["v" .. c1] = zero },
      class_path = "X" .. c1, metrics = { ["m" .. c1] = 1 },
      hyper_parameters = { kw = { note = "h" .. c1 } } })
    local out, err, rc = proc.run({ "ckpt", "inspect", p })
    assert.equal(0, rc, err)
    assert.is_nil(out:find("[\27\128-\159]"), out) -- (the listing's own text is ASCII)
    for _, want in ipairs({ "model.w\\x1B[2J", "model.v\\xC2\\x9B31m", "X\\xC2\\x9B31m", "m\\xC2\\x9B31m",
      '{"note":"h\\xC2\\x9B31m"}' }) do
      assert.truthy(out:find(want, 1, true), want .. " in:\n" .. out)
    end
  end)

  it("gives --json for a path that is not UTF-8, and the C1 controls as \\u escapes", function()
    local p = gio.join(dir, "x\255.safetensors") -- a name Linux allows; JSON holds only text
    proc.spit(p, proc.slurp(last))
    proc.spit(p .. ".sha256", proc.slurp(last .. ".sha256"):gsub("last", "x\255"))
    local out, err, rc = proc.run({ "ckpt", "inspect", "--json", p })
    assert.equal(0, rc, err)
    local d = json.decode(out)
    assert.equal(gio.join(dir, "x\\xFF.safetensors"), d.path)
    assert.equal("verified", d.sidecar)
    -- names and values from the file are UTF-8; the C1 controls among them come as \u escapes
    local c1 = gio.join(dir, "c1json.safetensors")
    ckpt.save(c1, { model = { ["v\u{9B}"] = require("graphids").zeros(1) }, class_path = "X\u{9B}31m" })
    out, err, rc = proc.run({ "ckpt", "inspect", "--json", c1 })
    assert.equal(0, rc, err)
    assert.is_nil(out:find("[\128-\159]"), out)
    assert.truthy(out:find('"class_path": "X\\u009b31m"', 1, true), out)
    d = json.decode(out)
    assert.equal("X\u{9B}31m", d.class_path)
    assert.equal("model.v\u{9B}", d.tensors[1].name)
  end)

  it("fails with exit code 1 and the reason for a missing or corrupt file", function()
    local _, err, rc = proc.run({ "ckpt", "inspect", gio.join(dir, "absent.safetensors") })
    assert.equal(1, rc)
    assert.truthy(err:find("absent.safetensors' does not exist", 1, true))
    local bad = gio.join(dir, "bad.safetensors")
    proc.spit(bad, proc.slurp(last))
    proc.spit(bad .. ".sha256", string.rep("0", 64) .. "  bad.safetensors\n")
    _, err, rc = proc.run({ "ckpt", "inspect", bad })
    assert.equal(1, rc)
    assert.truthy(err:find("sha256 mismatch", 1, true))
  end)

  it("answers usage errors with exit code 2", function()
    for _, args in ipairs({ { "ckpt" }, { "ckpt", "inspect" }, { "ckpt", "show", last },
      { "ckpt", "inspect", last, "--yaml" }, { "ckpt", "inspect", last, last } }) do
      local _, err, rc = proc.run(args)
      assert.equal(2, rc, table.concat(args, " "))
      assert.truthy(err:find("usage: graphids ckpt inspect FILE", 1, true))
    end
    -- the options parse as every other command's
    for _, c in ipairs({ { { "--json=1" }, "--json takes no value" },
      { { "--jsn" }, "unknown option '--jsn' (did you mean '--json'?)" } }) do
      local _, err, rc = proc.run({ "ckpt", "inspect", last, table.unpack(c[1]) })
      assert.equal(2, rc, c[2])
      assert.equal("graphids ckpt inspect: " .. c[2], err:match("^[^\n]*"))
    end
    for _, args in ipairs({ { "ckpt", "--help" }, { "ckpt", "inspect", "--help" },
      { "ckpt", "inspect", "-h" } }) do
      local out, _, rc = proc.run(args)
      assert.equal(0, rc, table.concat(args, " "))
      assert.truthy(out:find("usage:", 1, true))
    end
  end)
end)
