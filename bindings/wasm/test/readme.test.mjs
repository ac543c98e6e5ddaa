// Every ```js block of bindings/wasm/README.md runs as written, from the
// repository root, and prints what its comments say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const readme = readFileSync(join(ROOT, 'bindings/wasm/README.md'), 'utf8');
const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);

const EXPECT = [
  /^authorization\.created 0 sha256:4b8f0fe9.* signed by ws_acme\.2026-03-01 retired\n/,
  /^true pin_mismatch\nsignature_invalid signature does not verify under key "ws_acme\.2026-10-01"\n$/,
  /^false 26 1 \{ total: 4, intact: 3, broken: 1, closed: 2, open: 1, ungrouped: 0 \}\nexport-tampered\.jsonl:14: signature_invalid\n[\s\S]*auth_9Kd4ledger chain_invalid_receipt\n[\s\S]*32 lines\n$/,
  /^27 receipts, 0 invalid; chains closed: 2\n$/,
  /^chain_mixed chain mixes authorizations.*\n\{"a":"é","b":\[1e\+30,1\]\}\ninvoice\\u\{202e\}gnp\.exe\n$/,
  /^keys_fetch_failed\n$/,
];

function run(code, i) {
  const dir = mkdtempSync(join(tmpdir(), 'kvitto-readme-'));
  // Imports are relative to the repository root, where the READMEs say to run them.
  const file = join(dir, `example-${i}.mjs`);
  writeFileSync(file, code.replaceAll("'./bindings/wasm/dist/index.js'", JSON.stringify(join(ROOT, 'bindings/wasm/dist/index.js'))));
  return execFileSync(process.execPath, [file], { cwd: ROOT, encoding: 'utf8' });
}

test("the root README's JavaScript example runs", () => {
  const root = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = root.split('## In the browser / JavaScript')[1]?.split('\n## ')[0];
  assert.ok(section, 'README.md has an "In the browser / JavaScript" section');
  const code = /```js\n([\s\S]*?)```/.exec(section)[1];
  assert.equal(run(code, 'root'), 'false 1 signature_invalid\n');
});

test('the README examples run and print what they say', () => {
  assert.equal(blocks.length, EXPECT.length, 'one expectation per example');
  blocks.forEach((code, i) => {
    const out = run(code, i);
    assert.match(out, EXPECT[i], `example ${i + 1}:\n${code}\nprinted:\n${out}`);
  });
});
