// Round trip: receipts issued by kvitto-server (its binary, on a fresh data
// directory, on 127.0.0.1) verify in Node and on the page with exactly the
// verdicts, codes and chain results the CLI reports — byte for byte the
// same JSON Lines — for the export as served and for a tampered copy. The
// page is the one kvitto-server itself serves at /verify/ (--web-dir web).
//
// Environment: KVITTO_SERVER and KVITTO_CLI (set by scripts/wasm-tests.sh).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import * as kvitto from '../../bindings/wasm/dist/index.js';
import { CSP, WEB } from './server.mjs';
import { launch, openPage } from './browser.mjs';

const SERVER = process.env.KVITTO_SERVER;
const CLI = process.env.KVITTO_CLI;
const HANG = 5 * 60_000;
const dir = mkdtempSync(join(tmpdir(), 'kvitto-roundtrip-'));
let child;
let base;
let creds;

async function api(method, path, body) {
  for (let attempt = 0; ; attempt++) {
    const res = await fetch(base + path, {
      method,
      headers: {
        authorization: `Bearer ${creds.api_key}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    // An export waits for the signer; 503 export_not_ready means "again".
    if (res.status === 503 && attempt < 100) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    const bytes = new Uint8Array(await res.arrayBuffer());
    assert.ok(res.ok, `${method} ${path}: HTTP ${res.status} ${new TextDecoder().decode(bytes)}`);
    return bytes;
  }
}

const json = async (method, path, body) => JSON.parse(new TextDecoder().decode(await api(method, path, body)));

before(async () => {
  assert.ok(SERVER && CLI, 'KVITTO_SERVER and KVITTO_CLI must name the binaries (scripts/wasm-tests.sh sets them)');
  const data = join(dir, 'data');
  creds = JSON.parse(execFileSync(SERVER, ['init', '--format', 'json', '--data', data], { encoding: 'utf8' }));
  child = spawn(SERVER, ['serve', '--listen', '127.0.0.1:0', '--data', data, '--web-dir', WEB], {
    env: { ...process.env, KVITTO_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('kvitto-server did not say where it listens')), HANG);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line.replace(/^listening on /, '').replace(/\/$/, ''));
    });
    child.once('exit', (code) => reject(new Error(`kvitto-server exited with ${code}`)));
  });
  lines.on('line', () => {});
  await kvitto.init();
});

after(() => {
  child?.kill('SIGTERM');
});

function cli(args) {
  try {
    return execFileSync(CLI, args, { cwd: dir, encoding: 'utf8' });
  } catch (e) {
    if (e.status === 1) return e.stdout;
    throw e;
  }
}

test('an export issued by kvitto-server: Node, the page and the CLI agree line for line', async (t) => {
  // Trails of every kind: allow, deny, confirm and its resolution,
  // escalation and its resolution, a revocation; strings with markup.
  const a = await json('POST', '/v1/authorizations', {
    user_id: 'user_42',
    agent_id: 'mail-agent-7',
    scopes: ['mail:read', { name: 'mail:send', constraints: { max_per_day: 20 } }, 'payments:transfer', 'records:delete'],
    requires_confirm_for: ['payments:transfer'],
    requires_escalation_for: ['records:delete'],
    escalation_targets: { 'records:delete': 'ops-oncall' },
    expires_at: null,
    budget_limit_micros: 5_000_000,
    metadata: { ticket: '<script>alert(1)</script>\u202eevil' },
  });
  const auth = a.authorization_id;
  await json('POST', '/v1/check', { authorization_id: auth, scopes: ['mail:send', 'mail:read'], context: { subject: 'weekly' }, estimated_cost_micros: 1200 });
  await json('POST', '/v1/check', { authorization_id: auth, scopes: ['calendar:write'] });
  const pay = await json('POST', '/v1/check', { authorization_id: auth, scopes: ['payments:transfer'] });
  const nonce = pay.results['payments:transfer'].confirm_nonce;
  assert.ok(nonce, 'a confirm decision with its nonce');
  await json('POST', `/v1/confirmations/${nonce}`, { approved: true, ttl_seconds: 600 });
  const del = await json('POST', '/v1/check', { authorization_id: auth, scopes: ['records:delete'] });
  const esc = del.results['records:delete'].escalation_id;
  assert.ok(esc, 'an escalate decision with its id');
  await json('POST', `/v1/escalations/${esc}/resolve`, { approved: false, resolved_by: 'bob@ops' });
  const b = await json('POST', '/v1/authorizations', { user_id: 'user_43', agent_id: 'agent-2', scopes: ['mail:read'], requires_confirm_for: [], requires_escalation_for: [], escalation_targets: {}, expires_at: null, budget_limit_micros: null, metadata: {} });
  await json('POST', '/v1/check', { authorization_id: b.authorization_id, scopes: ['mail:read'] });
  await json('POST', `/v1/authorizations/${b.authorization_id}/revoke`, { revoked_by: 'user_43' });

  const exported = await api('GET', '/v1/receipts/export?since=2000-01-01T00:00:00Z');
  const keysBytes = await api('GET', `/v1/workspaces/${creds.workspace_id}/keys`);
  writeFileSync(join(dir, 'export.jsonl'), exported);
  writeFileSync(join(dir, 'keys.json'), keysBytes);
  const lines = new TextDecoder().decode(exported).trim().split('\n');
  assert.ok(lines.length >= 11, `an export of ${lines.length} receipts`);
  // A tampered copy: one member of one payload changed after signing.
  const victim = lines.findIndex((l) => l.includes('"kind":"check"'));
  const tampered = lines.map((l, i) => (i === victim ? l.replace('"scope":"', '"scope":"x') : l));
  assert.notEqual(tampered[victim], lines[victim]);
  writeFileSync(join(dir, 'export-tampered.jsonl'), `${tampered.join('\n')}\n`);

  const keys = kvitto.KeySet.fromJson(keysBytes, undefined, { source: 'keys.json' });
  // kvitto-server serves the page with its policy and the right media types.
  for (const [path, type] of [['/verify/', 'text/html'], ['/verify/app.js', 'text/javascript'], ['/verify/kvitto/kvitto_wasm_bg.wasm', 'application/wasm']]) {
    const res = await fetch(base + path);
    assert.equal(res.status, 200, path);
    assert.equal(res.headers.get('content-security-policy'), CSP, path);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.ok(res.headers.get('content-type').startsWith(type), `${path}: ${res.headers.get('content-type')}`);
    await res.arrayBuffer();
  }
  const pageUrl = `${base}/verify/`;
  const browser = await launch();
  try {
    for (const name of ['export.jsonl', 'export-tampered.jsonl']) {
      const theirs = cli(['verify', '--keys', 'keys.json', '--chains', '--format', 'json', name]);
      const r = kvitto.verifyExport(readFileSync(join(dir, name)), keys, { chains: true, source: name });
      const mine = [...r.receipts, ...r.chains, ...r.errors, r.summary].map((l) => `${JSON.stringify(l)}\n`).join('');
      assert.equal(mine, theirs, `Node and the CLI on ${name}`);
      const last = JSON.parse(theirs.trim().split('\n').at(-1));
      if (name === 'export.jsonl') {
        assert.equal(last.invalid, 0);
        assert.equal(last.chains.broken, 0);
        assert.equal(last.chains.closed, 1);
      } else {
        assert.equal(last.invalid, 1);
        assert.equal(last.chains.broken, 1);
      }
      t.diagnostic(`${name}: ${last.receipts} receipts, ${last.invalid} invalid, chains ${JSON.stringify(last.chains)}`);

      const { page, problems } = await openPage(browser.context, pageUrl);
      await page.setInputFiles('#keys-file', join(dir, 'keys.json'));
      await page.click('#keys-add');
      await page.setInputFiles('#files', join(dir, name));
      await page.click('#verify');
      await page.waitForFunction(() => document.getElementById('results').dataset.state === 'done', null, { timeout: HANG });
      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      assert.equal(readFileSync(await download.path(), 'utf8'), theirs, `the page and the CLI on ${name}`);
      await page.screenshot({ path: join(process.env.KVITTO_ARTIFACTS ?? dir, `server-${name.replace('.jsonl', '')}.png`), fullPage: true });
      assert.deepEqual(problems, []);
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
