// Unit tests of alerts/duration.js (node --test, run by npm test):
// durations as people write them, in both languages, never Go's "2m0s".

import assert from "node:assert/strict";
import test from "node:test";

const stored = new Map();
globalThis.localStorage = {
  getItem: (k) => (stored.has(k) ? stored.get(k) : null),
  setItem: (k, v) => stored.set(k, String(v)),
  removeItem: (k) => stored.delete(k),
};
globalThis.document = { querySelectorAll: () => [], documentElement: {}, dispatchEvent: () => {} };
globalThis.CustomEvent = class {
  constructor(type) {
    this.type = type;
  }
};

const { formatSeconds } = await import("../src/alerts/duration.js");
const { setLang } = await import("../src/i18n.js");

test("durations in Chinese and English", () => {
  const cases = [
    [120, "2分0秒", "2 min"],
    [45, "45秒", "45 s"],
    [3600, "1小时0分0秒", "1 h"],
    [3903, "1小时5分3秒", "1 h 5 min 3 s"],
    [59.6, "1分0秒", "1 min"],
  ];
  for (const [s, zh, en] of cases) {
    setLang("zh-CN");
    assert.equal(formatSeconds(s), zh);
    setLang("en");
    assert.equal(formatSeconds(s), en);
  }
});
