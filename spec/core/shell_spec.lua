-- shell_spec.lua -- graphids.shell.quote: a word of a suggested command, as a POSIX shell reads
-- it back (checked by running sh on the quoted word).
local shell = require "graphids.shell"

-- what sh prints for `printf %s <word>`
local function sh_reads(word)
  local f = assert(io.popen("printf %s " .. word))
  local out = f:read("a")
  f:close()
  return out
end

describe("graphids.shell.quote", function()
  it("leaves a plain word as it is and quotes anything the shell would read otherwise", function()
    assert.equal("lake/hcrl_sa", shell.quote("lake/hcrl_sa"))
    assert.equal("--lake-root=x", shell.quote("--lake-root=x"))
    assert.equal("''", shell.quote(""))
    for _, word in ipairs({ "my lake", "-my lake's", "a$b", "*", "a\"b", "x;rm -rf y", "tab\tthere",
      "it's", "~home", "a\\b", "" }) do
      local q = shell.quote(word)
      assert.are_not.equal(word, q, word)
      assert.equal(word, sh_reads(q), word)
    end
  end)
end)
