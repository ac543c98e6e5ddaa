// The JavaScript API beyond the vectors: error objects, argument checks,
// streaming in any chunking, several inputs and documents, fetchKeys' rules
// (against a local server), and the parallel pieces agreeing with one thread.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k from '../dist/index.js';
import { BatchRun, BatchVerifier } from '../dist/parallel.js';

const TV = fileURLToPath(new URL('../../../test-vectors/', import.meta.url));
const read = (p) => readFileSync(TV + p);
let server;
let base;

before(async () => {
  await k.init();
  server = createServer((req, res) => {
    const routes = {
      '/keys.json': () => res.end(read('sample/keys.json')),
      '/big.json': () => res.end(Buffer.alloc((1 << 20) + 10, 0x20)),
      '/redirect': () => {
        res.writeHead(302, { location: 'http://example.invalid/keys.json' });
        res.end();
      },
      '/slow': () => setTimeout(() => res.end('{}'), 5_000),
      '/missing': () => {
        res.writeHead(404);
        res.end();
      },
    };
    (routes[req.url] ?? routes['/missing'])();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const codeOf = (f) => {
  try {
    f();
  } catch (e) {
    return e.code;
  }
  return 'ok';
};

test('errors are Error objects with the core code', () => {
  const keys = k.KeySet.fromJson(read('sample/keys.json'));
  assert.equal(codeOf(() => k.verifyReceipt('{', keys)), 'malformed_json');
  assert.equal(codeOf(() => k.KeySet.fromJson('{"workspace_id":"w","keys":[1]}')), 'keys_invalid');
  assert.equal(codeOf(() => k.KeySet.fromJson(read('sample/keys.json'), 'sha256:nope')), 'invalid_argument');
  assert.equal(codeOf(() => k.verifyReceipt('{}', [keys, keys])), 'invalid_argument');
  assert.equal(codeOf(() => k.verifyReceipt(42, keys)), 'invalid_argument');
  assert.equal(codeOf(() => k.canonicalize('{"a":1,"a":2}')), 'duplicate_key');
  try {
    k.verifyReceipt('[]', keys);
  } catch (e) {
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'KvittoError');
    assert.equal(e.code, 'bad_structure');
  }
  assert.deepEqual(k.errorCodes().length, 25);
  assert.equal(k.inspectReceipt('{"payload":{}}', keys).error.code, 'bad_structure');
  assert.equal(k.inspectReceipt('{"payload":{}}').canonical, '{}');
});

test('streaming in any chunking, several inputs and documents, equals the whole', () => {
  const keys = [k.KeySet.fromJson(read('sample/keys.json')), k.KeySet.fromJson(read('keys/ws_demo.json'))];
  const inputs = [
    ['export-tampered.jsonl', read('sample/export-tampered.jsonl')],
    ['complete-closed.jsonl', read('exports/complete-closed.jsonl')],
  ];
  const once = (step) => {
    const v = new k.ExportVerifier(keys, { chains: true });
    const lines = [];
    for (const [name, bytes] of inputs) {
      v.begin(name);
      for (let at = 0; at < bytes.length; at += step) lines.push(...v.push(bytes.subarray(at, at + step)));
      lines.push(...v.end());
    }
    const fin = v.finish();
    return { ...fin, receipts: lines.concat(fin.receipts) };
  };
  const whole = once(1 << 30);
  assert.equal(whole.summary.receipts, 34);
  assert.equal(whole.summary.chains.total, 5);
  assert.equal(whole.summary.keys.length, 2);
  for (const step of [1, 3, 1000]) assert.deepEqual(once(step), whole);
  const stopped = new k.ExportVerifier(keys, { chains: true });
  stopped.push(inputs[0][1].subarray(0, 3000));
  const partial = stopped.stop();
  assert.equal(partial.summary.complete, false);
  assert.equal(partial.summary.chains.total, 0);
  const empty = k.verifyExport('  \n', keys);
  assert.equal(empty.ok, false);
  assert.deepEqual(empty.errors.map((e) => e.code), ['no_receipts']);
});

test('the parallel pieces report exactly what one thread does', () => {
  const keys = k.KeySet.fromJson(read('sample/keys.json'), undefined, { source: 'keys.json' });
  const bytes = read('sample/export-tampered.jsonl');
  const one = k.verifyExport(bytes, keys, { chains: true, source: 'x.jsonl' });
  const run = new BatchRun(keys, { chains: true });
  const worker = new BatchVerifier(keys);
  run.begin('x.jsonl');
  const answers = [];
  for (let at = 0; at < bytes.length; at += 2048) {
    run.push(bytes.subarray(at, at + 2048));
    for (let b; (b = run.takeBatch()); ) answers.push(worker.verify(b));
  }
  run.end();
  for (let b; (b = run.takeBatch()); ) answers.push(worker.verify(b));
  for (const a of answers.reverse()) run.apply(a);
  const fin = run.finish();
  const report = run.takeReport().trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(report.filter((l) => l.type === 'receipt'), one.receipts);
  assert.deepEqual(fin.chains, one.chains);
  assert.deepEqual(fin.summary, one.summary);
  const rows = JSON.parse(run.takeRows());
  assert.equal(rows.length, 27);
  assert.equal(rows[13].code, 'signature_invalid');
  assert.equal(rows[0].kind, 'authorization.created');
});

test('fetchKeys: https only, loopback http on request, caps, pins, timeouts', async () => {
  const fails = async (p, code) => {
    await assert.rejects(p, (e) => {
      assert.equal(e.code, code, e.message);
      return true;
    });
  };
  await fails(k.fetchKeys(`${base}/keys.json`), 'keys_fetch_failed');
  await fails(k.fetchKeys('ftp://example.invalid/keys.json'), 'keys_fetch_failed');
  await fails(k.fetchKeys('http://10.0.0.1/keys.json', { allowInsecureLocalhost: true }), 'keys_fetch_failed');
  const keys = await k.fetchKeys(`${base}/keys.json`, {
    allowInsecureLocalhost: true,
    expectedSha256: 'sha256:30120afed5b68c946ef8c869dc7dc285ad54f502ab505f882997fa6d502e3369',
  });
  assert.equal(keys.pinned, true);
  assert.equal(keys.source, `${base}/keys.json`);
  await fails(k.fetchKeys(`${base}/keys.json`, { allowInsecureLocalhost: true, expectedSha256: '0'.repeat(64) }), 'pin_mismatch');
  await fails(k.fetchKeys(`${base}/big.json`, { allowInsecureLocalhost: true }), 'too_large');
  await fails(k.fetchKeys(`${base}/redirect`, { allowInsecureLocalhost: true }), 'keys_fetch_failed');
  await fails(k.fetchKeys(`${base}/missing`, { allowInsecureLocalhost: true }), 'keys_fetch_failed');
  await fails(k.fetchKeys(`${base}/slow`, { allowInsecureLocalhost: true, timeoutMs: 200 }), 'keys_fetch_failed');
});
