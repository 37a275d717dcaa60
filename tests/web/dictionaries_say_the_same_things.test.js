// Every page text exists in Russian and in English, and every key the pages name
// literally (`t('…')`, `data-t="…"`) is in the dictionaries: a missing one would show
// its key to people.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { en } from '../../web/common/i18n/en.js';
import { ru } from '../../web/common/i18n/ru.js';

const web = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../web');

function files(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? files(p) : /\.(js|html)$/.test(name) ? [p] : [];
  });
}

test('Russian and English have the same keys', () => {
  assert.deepEqual(Object.keys(en).sort(), Object.keys(ru).sort());
  for (const [k, v] of Object.entries(ru)) assert.ok(v.trim() && en[k].trim(), `${k} is empty`);
});

test('every key the pages use is in the dictionaries', () => {
  const missing = [];
  for (const file of files(web)) {
    if (file.includes(`${path.sep}i18n${path.sep}`)) continue;
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bt\('([a-z0-9_.]+)'\s*[,)]/g)) if (!(m[1] in ru)) missing.push(`${path.relative(web, file)}: ${m[1]}`);
    for (const m of text.matchAll(/data-t(?:-[a-z]+)?="([a-z0-9_.]+)"/g)) if (!(m[1] in ru)) missing.push(`${path.relative(web, file)}: ${m[1]}`);
  }
  assert.deepEqual(missing, []);
});

test('the placeholders of each text are the same in both languages', () => {
  const names = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
  for (const k of Object.keys(ru)) assert.deepEqual(names(ru[k]), names(en[k]), k);
});
