-- columns_spec.lua -- graphids.orchestrate.columns: a cell's width in terminal columns (a wide
-- CJK character two, a combining mark none; bytes for text that is not UTF-8), padding to a
-- width, and each column as wide as its widest cell; graphids.orchestrate.display_width's ranges.
local C = require "graphids.orchestrate.columns"
local W = require "graphids.orchestrate.display_width"

describe("graphids.orchestrate.columns", function()
  it("counts characters, and the bytes of text that is not UTF-8", function()
    assert.same({ 3, 3, 0, 4 }, { C.width("gat"), C.width("gät"), C.width(""), C.width("g\xFFt\xC3") })
    assert.equal("gät  ", C.pad("gät", 5))
    assert.equal("a\xFF  ", C.pad("a\xFF", 4))
    assert.equal("longer", C.pad("longer", 3)) -- (a cell wider than its column is not cut)
  end)

  it("counts a wide character two columns and a combining or zero-width one none", function()
    -- CJK ideographs, kana, Hangul, the ideographic space and fullwidth forms: 2 each
    assert.same({ 4, 6, 4, 2, 4, 2 }, { C.width("変種"), C.width("カタナ"), C.width("한국"),
      C.width("\u{3000}"), C.width("ＡＢ"), C.width("𠀋") })
    -- e + combining acute (U+0301), a + combining ring (U+030A) + grave (U+0300); a kana and its
    -- combining voiced mark (U+3099); zero-width space, joiner, BOM, variation selector
    assert.same({ 1, 1, 2, 2 }, { C.width("e\u{301}"), C.width("a\u{30A}\u{300}"), C.width("か\u{3099}"),
      C.width("a\u{200B}b\u{200D}\u{FEFF}\u{FE0F}") })
    assert.equal("ge\u{301}at  |", C.pad("ge\u{301}at", 6) .. "|")
    assert.equal("変種  |", C.pad("変種", 6) .. "|")
    -- halfwidth katakana, Latin, Greek, Cyrillic: 1; an emoji: 2
    assert.same({ 1, 1, 1, 1, 2 }, { W.char(0xFF76), W.char(0x00E9), W.char(0x03B1), W.char(0x0436),
      W.char(0x1F600) })
    -- each range's ends, and the code points just outside them
    assert.same({ 1, 2, 2, 0 }, { W.char(0x10FF), W.char(0x1100), W.char(0x115F), W.char(0x1160) })
    assert.same({ 1, 0, 0, 1 }, { W.char(0x02FF), W.char(0x0300), W.char(0x036F), W.char(0x0370) })
    assert.same({ 2, 1, 2, 2, 1 }, { W.char(0x303E), W.char(0x303F), W.char(0x4E00), W.char(0x9FFF),
      W.char(0xA4D0) })
  end)

  -- A few code points of each class of tools/gen_display_width.py's rule, with the value Python's
  -- unicodedata gives them (the generator's run was checked against every code point).
  it("follows the generated rule: marks and format characters 0, East Asian W/F 2, else 1", function()
    local function widths(cps)
      local out = {}
      for i, cp in ipairs(cps) do out[i] = W.char(cp) end
      return out
    end
    -- Mn, Me, Cf (LRM, word joiner, BOM, Arabic number sign, Kaithi number sign, language tag),
    -- Hangul medial vowels and final consonants, the zero-width space and non-joiner: 0; also a mark
    -- that is East Asian wide (U+302A, U+16FE4)
    assert.same({ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }, widths({
      0x0300, 0x0E31, 0x1AB0, 0xFE0F, 0xE0100, 0x0488, 0x20DD, 0xA670, 0x200E, 0x2060, 0xFEFF,
      0x0600, 0x110BD, 0xE0001, 0x1160, 0x11A8, 0x11FF, 0x200B, 0x200C, 0x302A, 0x16FE4 }))
    -- East_Asian_Width W (Hangul initials, kana, enclosed CJK, ideographs, syllables, emoji and
    -- their skin tones, Tangut marks) and F (ideographic space, fullwidth forms): 2
    assert.same({ 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 }, widths({
      0x1100, 0x3041, 0x3247, 0x3250, 0x4E00, 0xAC00, 0x1F600, 0x1F680, 0x1F90C, 0x1F3FB,
      0x16FE0, 0x16FE3, 0x3000, 0xFF01, 0xFFE6, 0x20000 }))
    -- the soft hyphen (Cf, shown as a hyphen), the Ethiopic syllable after the jamo, text-style
    -- emoji (N: desktop computer, hammer and wrench, thermometer, eye, circled cross), ambiguous
    -- (circled numbers on black squares, inverted exclamation), halfwidth, controls: 1
    assert.same({ 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 }, widths({
      0x00AD, 0x1200, 0x1F5A5, 0x1F6E0, 0x1F321, 0x1F441, 0x1F900, 0x3248, 0x324F, 0x00A1,
      0xFF61, 0x007F, 0x009F, 0x0085 }))
    -- unassigned code points: wide in the CJK ideograph blocks and planes 2 and 3, else 1
    assert.same({ 2, 2, 2, 1, 1, 1, 1, 1 }, widths({
      0xFA6E, 0x2FFFD, 0x3FFFD, 0x0378, 0xE0000, 0x50000, 0xFFFF, 0x10FFFF }))
  end)

  it("sizes each column to its widest cell, at least its minimum", function()
    local w = C.widths({ 4, 2 }, { { "ab", "ünïcödé" }, { "abcdef", "x" } })
    assert.same({ 6, 7 }, w)
    assert.same({ 4, 2 }, C.widths({ 4, 2 }, {}))
    assert.equal("ab     ünïcödé", C.join({ "ab", "ünïcödé" }, w))
    assert.equal("abcdef x      ", C.join({ "abcdef", "x" }, w))
    -- by display width: "変種" is 4 columns wide in 2 characters, "ge\u{301}" 2 in 3
    w = C.widths({ 1, 1 }, { { "変種", "ge\u{301}" }, { "abc", "xy" } })
    assert.same({ 4, 2 }, w)
    assert.equal("abc  xy", C.join({ "abc", "xy" }, w))
    assert.equal("変種 ge\u{301}", C.join({ "変種", "ge\u{301}" }, w))
  end)
end)
