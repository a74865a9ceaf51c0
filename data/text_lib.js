// Helpers of the text converters run with node (convert_imdb.js,
// convert_spam.js): the seeded shuffle of lib.lua (splitmix64 +
// Fisher-Yates, so data/README.md states one procedure for every set) and
// the TSV form of data/full/text/ (see data/README.md).
"use strict";
const fs = require("fs");
const path = require("path");

const MASK = (1n << 64n) - 1n;

// splitmix64: a function giving the next 64-bit value as a BigInt.
function splitmix64(seed) {
  let state = BigInt(seed) & MASK;
  return function next() {
    state = (state + 0x9E3779B97F4A7C15n) & MASK;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n) & MASK;
    z = ((z ^ (z >> 27n)) * 0x94D049BB133111EBn) & MASK;
    return z ^ (z >> 31n);
  };
}

// Fisher-Yates in place, as lib.lua's L.shuffle with 1-based positions:
// for i = n down to 2, j = 1 + ((next >> 1) mod i), swap i and j.
function shuffle(list, next) {
  for (let i = list.length; i >= 2; i--) {
    const j = 1 + Number((next() >> 1n) % BigInt(i));
    const t = list[i - 1];
    list[i - 1] = list[j - 1];
    list[j - 1] = t;
  }
  return list;
}

// One field of a TSV line: backslash, tab, newline and carriage return
// written as \\ \t \n \r, so every record is one line.
function escapeField(s) {
  return s.replace(/[\\\t\n\r]/g, (c) => ({ "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" })[c]);
}

// Writes records [{label, id, text}] as `label TAB id TAB text` lines,
// atomically (a temporary file renamed over the target).
function writeTsv(file, records) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const lines = records.map((r) => `${escapeField(r.label)}\t${escapeField(r.id)}\t${escapeField(r.text)}\n`);
  const tmp = `${file}.tmp${process.pid}`;
  fs.writeFileSync(tmp, lines.join(""));
  fs.renameSync(tmp, file);
}

// Counts of each label, in a stable order, for the converters' reports.
function countLabels(records) {
  const counts = {};
  for (const r of records) counts[r.label] = (counts[r.label] || 0) + 1;
  return Object.keys(counts).sort().map((k) => `${k} ${counts[k]}`).join(", ");
}

// Decodes HTML character references: the common named ones and numeric
// &#NNN; / &#xHH;, each ending in ';' (code points that are not characters
// are dropped; unknown names are left as they are).
const NAMED = {
  amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: " ", copy: "\u00a9", reg: "\u00ae",
  trade: "\u2122", hellip: "\u2026", mdash: "\u2014", ndash: "\u2013", lsquo: "\u2018", rsquo: "\u2019",
  ldquo: "\u201c", rdquo: "\u201d", bull: "\u2022", middot: "\u00b7", euro: "\u20ac", pound: "\u00a3",
  yen: "\u00a5", cent: "\u00a2", sect: "\u00a7", deg: "\u00b0", plusmn: "\u00b1", times: "\u00d7",
  divide: "\u00f7", laquo: "\u00ab", raquo: "\u00bb", iexcl: "\u00a1", iquest: "\u00bf",
  eacute: "\u00e9", egrave: "\u00e8", aacute: "\u00e1", agrave: "\u00e0", oacute: "\u00f3",
  uacute: "\u00fa", iacute: "\u00ed", ntilde: "\u00f1", ccedil: "\u00e7", uuml: "\u00fc",
  ouml: "\u00f6", auml: "\u00e4", szlig: "\u00df",
};
function decodeEntities(s) {
  return s.replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/g, (m, e) => {
    if (e[0] === "#") {
      const cp = e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      if (cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff)) return String.fromCodePoint(cp);
      return "";
    }
    const v = NAMED[e.toLowerCase()];
    return v === undefined ? m : v;
  });
}

module.exports = { splitmix64, shuffle, escapeField, writeTsv, countLabels, decodeEntities };
