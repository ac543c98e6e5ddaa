// Every shared test vector whose surfaces include "wasm", run against the
// built package (bindings/wasm/dist) in Node. Results are sorted into pass /
// known divergence / unexpected failure / unexpected success; the last two
// fail the run (test-vectors/README.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as kvitto from '../dist/index.js';

const root = fileURLToPath(new URL('../../../test-vectors/', import.meta.url));
const read = (p) => readFileSync(root + p);
const manifest = JSON.parse(read('manifest.json'));

// Vectors where the wasm package knowingly differs, each with its reason.
// None today: every surface runs the same core.
const KNOWN_DIVERGENCES = new Map([]);

await kvitto.init();

const keyCache = new Map();
function keysOf(v) {
  return (v.keys ?? []).map((p) => {
    if (!keyCache.has(p)) keyCache.set(p, kvitto.KeySet.fromJson(read(p), undefined, { source: p }));
    return keyCache.get(p);
  });
}

const outcome = (f) => {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (typeof e?.code !== 'string') throw e;
    return { ok: false, code: e.code, error: e };
  }
};

const chainView = (c) => ({
  authorization_id: c.authorization_id,
  code: c.code,
  closed: c.closed,
  head_seq: c.head_seq,
  head_hash: c.head_hash,
  receipts: c.receipts,
  duplicates: c.duplicates,
});

/** Check one vector; throws an AssertionError when the package disagrees. */
function check(v) {
  const input = read(v.input);
  switch (v.type) {
    case 'receipt': {
      const r = outcome(() => kvitto.verifyReceipt(input, keysOf(v)));
      if (v.expect.ok) {
        assert.ok(r.ok, `expected valid, got ${r.code}: ${r.error?.message}`);
        assert.equal(r.value.receiptHash, v.expect.receipt_hash);
        assert.equal(r.value.kid, v.expect.kid);
        assert.equal(kvitto.canonicalize(JSON.stringify(r.value.payload)), r.value.canonical);
      } else {
        assert.ok(!r.ok, 'expected invalid, got valid');
        assert.equal(r.code, v.expect.code);
        assert.ok(r.error instanceof Error);
      }
      return;
    }
    case 'keys': {
      const r = outcome(() => kvitto.KeySet.fromJson(input, v.pin));
      if (v.expect.ok) {
        assert.ok(r.ok, `expected a valid document, got ${r.code}`);
        assert.equal(r.value.workspaceId, v.expect.workspace_id);
        assert.deepEqual(r.value.keys.map((k) => k.kid), v.expect.kids);
        assert.equal(r.value.sha256, v.expect.sha256);
        assert.equal(r.value.pinned, v.pin !== undefined);
      } else {
        assert.ok(!r.ok, 'expected an invalid document');
        assert.equal(r.code, v.expect.code);
      }
      return;
    }
    case 'export': {
      const whole = kvitto.verifyExport(input, keysOf(v), { chains: v.chains });
      const got = {
        records: whole.receipts.map((r) => ({ line: r.line, index: r.index, code: r.code })),
        chains: whole.chains.map(chainView),
      };
      assert.deepEqual(got, v.expect);
      // The streaming form, in odd-sized pieces, reports exactly the same.
      const sv = new kvitto.ExportVerifier(keysOf(v), { chains: v.chains }).begin('input');
      const lines = [];
      const step = input.length < 65536 ? 7 : 65543;
      for (let at = 0; at < input.length; at += step) lines.push(...sv.push(input.subarray(at, at + step)));
      const fin = sv.finish();
      lines.push(...fin.receipts);
      assert.deepEqual({ ...fin, receipts: lines }, whole);
      return;
    }
    case 'chain': {
      const c = kvitto.verifyChain(input, keysOf(v));
      assert.deepEqual(chainView(c), v.expect);
      return;
    }
    case 'canon': {
      const r = outcome(() => kvitto.canonicalize(input));
      if (v.output !== undefined) {
        assert.ok(r.ok, `expected output, got ${r.code}`);
        assert.deepEqual(Buffer.from(r.value, 'utf8'), read(v.output));
      } else {
        assert.ok(!r.ok, 'expected an error');
        assert.equal(r.code, v.expect.code);
      }
      return;
    }
    default:
      throw new Error(`unknown vector type ${v.type}`);
  }
}

test('every wasm test vector: pass, known divergence, or fail the run', () => {
  const counts = { pass: 0, known: 0, unexpectedFailure: 0, unexpectedSuccess: 0 };
  const problems = [];
  const wasm = manifest.vectors.filter((v) => v.surfaces.includes('wasm'));
  assert.ok(wasm.length > 500, `only ${wasm.length} wasm vectors`);
  for (const v of wasm) {
    let failure = null;
    try {
      check(v);
    } catch (e) {
      failure = e;
    }
    const known = KNOWN_DIVERGENCES.get(v.id);
    if (!failure && !known) counts.pass++;
    else if (failure && known) counts.known++;
    else if (failure) {
      counts.unexpectedFailure++;
      problems.push(`unexpected failure ${v.id}: ${failure.message.split('\n')[0]}`);
    } else {
      counts.unexpectedSuccess++;
      problems.push(`unexpected success ${v.id} (listed as a known divergence: ${known})`);
    }
  }
  console.log(
    `wasm vectors: ${counts.pass} pass, ${counts.known} known divergence, ` +
      `${counts.unexpectedFailure} unexpected failure, ${counts.unexpectedSuccess} unexpected success`,
  );
  assert.deepEqual(problems, []);
  assert.equal(counts.pass + counts.known, wasm.length);
});
