/**
 * The UTF-8 length and cut (`src/utf8.ts`), checked against `TextEncoder`
 * on fixed and seeded random strings.
 */
import assert from "node:assert/strict";
import { truncateUtf8, utf8Length } from "../src/utf8.ts";

const encoder = new TextEncoder();

/** A small seeded generator (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomString(next: () => number): string {
  const length = Math.floor(next() * 40);
  let text = "";
  for (let i = 0; i < length; i++) {
    const pick = next();
    if (pick < 0.2) text += String.fromCharCode(Math.floor(next() * 0x80)); // 1 byte
    else if (pick < 0.4) text += String.fromCharCode(0x80 + Math.floor(next() * 0x780)); // 2
    else if (pick < 0.55) {
      // 3 bytes, outside the surrogates
      const c = 0x800 + Math.floor(next() * (0x10000 - 0x800 - 0x800));
      text += String.fromCharCode(c >= 0xd800 ? c + 0x800 : c);
    } else if (pick < 0.7) text += String.fromCodePoint(0x10000 + Math.floor(next() * 0xfffff)); // 4
    else if (pick < 0.8) text += String.fromCharCode(0xd800 + Math.floor(next() * 0x400)); // lone high
    else if (pick < 0.9) text += String.fromCharCode(0xdc00 + Math.floor(next() * 0x400)); // lone low
    else {
      text += String.fromCharCode(
        [0x7f, 0x80, 0x7ff, 0x800, 0xffff, 0xd7ff, 0xe000][
          Math.floor(next() * 7)
        ],
      );
    }
  }
  return text;
}

Deno.test("utf8Length() agrees with TextEncoder", async (t) => {
  await t.step("fixed strings", () => {
    const fixed = [
      "",
      "a",
      "héllo",
      "€",
      "👋",
      "\u007f\u0080\u07ff\u0800\uffff",
      "\ud800",
      "\udc00",
      "a\ud800",
      "\ud800a",
      "\udc00\ud800",
      "\ud800\ud800\udc00",
      "\ud83d\udc4b\ud83d",
      "\u{10ffff}",
      "x".repeat(1000) + "é",
    ];
    for (const text of fixed) {
      assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
    }
  });
  await t.step("2000 seeded random strings", () => {
    const next = random(0x5eed);
    for (let i = 0; i < 2000; i++) {
      const text = randomString(next);
      assert.equal(utf8Length(text), encoder.encode(text).length, JSON.stringify(text));
    }
  });
});

Deno.test("truncateUtf8() returns a string that fits unchanged", () => {
  for (const [text, max] of [["", 0], ["abc", 3], ["héllo", 6], ["👋", 4], ["x", 123]] as const) {
    assert.equal(truncateUtf8(text, max), text, JSON.stringify([text, max]));
  }
});

Deno.test("truncateUtf8() cuts to the longest prefix within the bytes, never inside a character", () => {
  assert.equal(truncateUtf8("abcdef", 3), "abc");
  assert.equal(truncateUtf8("héllo", 2), "h", "é takes 2 bytes: it does not fit after h");
  assert.equal(truncateUtf8("héllo", 3), "hé");
  assert.equal(truncateUtf8("€€", 5), "€");
  assert.equal(truncateUtf8("abc", 0), "");
  assert.equal(truncateUtf8("é".repeat(100), 123), "é".repeat(61));
});

Deno.test("truncateUtf8() agrees with utf8Length on 2000 seeded random strings", () => {
  const next = random(0xc0de);
  for (let i = 0; i < 2000; i++) {
    const text = randomString(next);
    const max = Math.floor(next() * 4 * text.length);
    const cut = truncateUtf8(text, max);
    const context = JSON.stringify([text, max]);
    assert.ok(text.startsWith(cut), `a prefix: ${context}`);
    assert.ok(utf8Length(cut) <= max, `within the bytes: ${context}`);
    if (cut !== text) {
      // The next character (both halves of a surrogate pair) would not fit.
      const pair = text.charCodeAt(cut.length) >= 0xd800 && text.charCodeAt(cut.length) <= 0xdbff &&
        text.charCodeAt(cut.length + 1) >= 0xdc00 && text.charCodeAt(cut.length + 1) <= 0xdfff;
      const longer = text.slice(0, cut.length + (pair ? 2 : 1));
      assert.ok(utf8Length(longer) > max, `the longest: ${context}`);
    }
  }
});

Deno.test("truncateUtf8() keeps a surrogate pair whole", () => {
  assert.equal(truncateUtf8("👋", 3), "");
  assert.equal(truncateUtf8("a👋b", 4), "a");
  assert.equal(truncateUtf8("a👋b", 5), "a👋");
});
