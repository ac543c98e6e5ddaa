// The verification page in headless Chromium (Debian's, driven by
// playwright-core), served on 127.0.0.1 by web/test/server.mjs with the
// page's CSP. No test depends on the machine's speed: waits are generous
// and fail only on a real hang. Screenshots go to web/test/artifacts/.
//
// Environment (scripts/wasm-tests.sh sets it): KVITTO_CLI (the kvitto
// binary), KVITTO_EXPORT and KVITTO_EXPORT_KEYS (a 100,000-line export made
// by `cargo xtask gen-export`).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve, CSP } from './server.mjs';
import { launch, openPage } from './browser.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TV = join(ROOT, 'test-vectors');
const ARTIFACTS = process.env.KVITTO_ARTIFACTS ?? join(ROOT, 'web/test/artifacts');
mkdirSync(ARTIFACTS, { recursive: true });
const HANG = 10 * 60_000; // only a real hang takes this long

let server;
let browser;

before(async () => {
  server = await serve({
    routes: {
      '/keys/ws_demo.json': { body: readFileSync(join(TV, 'keys/ws_demo.json')) },
    },
  });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function fresh() {
  await browser.context.setOffline(false);
  const page = await browser.context.newPage();
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content Security Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  const res = await page.goto(server.url);
  assert.equal(res.headers()['content-security-policy'], CSP);
  await page.waitForFunction(() => ['true', 'error'].includes(document.body.dataset.ready), null, { timeout: HANG });
  assert.equal(await page.evaluate(() => document.body.dataset.ready), 'true', 'the verifier started');
  return { page, problems };
}

async function loadKeys(page, file, pin) {
  await page.check('input[name=keysrc][value=file]');
  await page.setInputFiles('#keys-file', file);
  await page.fill('#pin', pin ?? '');
  await page.click('#keys-add');
}

async function verify(page, files, { chains = true } = {}) {
  await page.setInputFiles('#files', files);
  await page.setChecked('#chains', chains);
  await page.click('#verify');
  await page.waitForFunction(
    () => ['done', 'failed', 'cancelled'].includes(document.getElementById('results').dataset.state),
    null,
    { timeout: HANG, polling: 200 },
  );
}

const verdictKind = (page) => page.getAttribute('#verdict', 'data-kind');
const frames = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
const rowTexts = async (page, sel = '#receipts-table') => {
  await frames(page);
  return page.$$eval(`${sel} .vt-row:not([hidden])`, (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
};

function cliReport(args, cwd) {
  const cli = process.env.KVITTO_CLI;
  if (!cli) return null;
  try {
    return execFileSync(cli, args, { cwd, encoding: 'utf8', maxBuffer: 1 << 30 });
  } catch (e) {
    if (typeof e.stdout === 'string') return e.stdout; // exit 1: invalid receipts
    throw e;
  }
}

describe('the verification page', () => {
  test('runs under the CSP: no inline script, nothing from elsewhere', async () => {
    const { page, problems } = await fresh();
    assert.deepEqual(problems, []);
    const inline = await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.head.append(s);
      return window.__inline ?? null;
    });
    assert.equal(inline, null, 'an inline script must be blocked');
    const requests = server.requests.filter((p) => p !== '/favicon.ico');
    for (const p of requests) assert.match(p, /^\/(|index\.html|[a-z]+\.(js|css|svg)|kvitto\/[a-z_]+\.(js|wasm)|keys\/.*)$/);
    await page.close();
  });

  test('a valid receipt shows valid, with its key, window and canonical bytes', async () => {
    const { page, problems } = await fresh();
    await loadKeys(page, join(TV, 'keys/ws_demo.json'));
    await verify(page, join(TV, 'receipts/valid/created.json'));
    assert.equal(await verdictKind(page), 'ok');
    assert.match(await page.textContent('#verdict'), /VALID/);
    const rows = await rowTexts(page);
    assert.equal(rows.length, 1);
    assert.equal(rows[0][1], 'valid');
    assert.equal(rows[0][2], 'authorization.created');
    // Keyboard: focus the table, Enter opens the detail, Escape closes it.
    await page.focus('#receipts-table .vt-body');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#detail[open] h3');
    const detail = await page.textContent('#detail-body');
    assert.match(detail, /Signing key/);
    assert.match(detail, /ws_demo\.2026-11-01/);
    assert.match(detail, /2026-11-01T00:00:00Z ≤ issued_at < open/);
    assert.match(detail, /sha256:8251c28c3a3463b36bb8a9e9c0eadfc96146d71aa09a985207b89901a8b412e2/);
    assert.match(detail, /Canonical bytes/);
    await page.screenshot({ path: join(ARTIFACTS, 'valid-detail.png'), fullPage: false });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.getElementById('detail').open, null, { timeout: HANG });
    assert.equal(await page.evaluate(() => document.activeElement?.classList.contains('vt-body')), true, 'focus returns');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a tampered receipt shows signature_invalid', async () => {
    const { page, problems } = await fresh();
    await loadKeys(page, join(TV, 'keys/ws_demo.json'));
    await verify(page, join(TV, 'receipts/signature_invalid/tampered-scope.json'));
    assert.equal(await verdictKind(page), 'bad');
    const rows = await rowTexts(page);
    assert.equal(rows[0][1], 'signature_invalid');
    await page.click('#receipts-table .vt-row');
    await page.waitForSelector('#detail[open] pre');
    assert.match(await page.textContent('#detail-body'), /Invalid: signature_invalid/);
    await page.screenshot({ path: join(ARTIFACTS, 'tampered-detail.png') });
    await page.keyboard.press('Escape');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a wrong pin shows pin_mismatch and verifies nothing', async () => {
    const { page, problems } = await fresh();
    await loadKeys(page, join(TV, 'keys/ws_demo.json'), `sha256:${'0'.repeat(64)}`);
    await page.waitForSelector('#keys-error:not([hidden])');
    assert.equal(await page.getAttribute('#keys-error', 'data-code'), 'pin_mismatch');
    assert.match(await page.textContent('#keys-error'), /pin_mismatch: key document hash sha256:f2bdb413/);
    await page.setInputFiles('#files', join(TV, 'receipts/valid/created.json'));
    assert.equal(await page.isDisabled('#verify'), true);
    await page.screenshot({ path: join(ARTIFACTS, 'pin-mismatch.png') });
    // The right pin, over a URL on the page's own origin, is "pinned".
    await page.check('input[name=keysrc][value=url]');
    await page.fill('#keys-url', `${server.url}keys/ws_demo.json`);
    await page.fill('#pin', 'SHA256:F2BDB41347125774D7D970359AD996641D15973ED8A9B08B1DEC5674E08ACB65');
    await page.click('#keys-add');
    await page.waitForSelector('#keys-list li[data-workspace=ws_demo]');
    assert.match(await page.textContent('#keys-list'), /pinned: matches the pin/);
    assert.equal(await page.isDisabled('#verify'), false);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('markup and bidi characters from a receipt render inert', async () => {
    const { page, problems } = await fresh();
    await loadKeys(page, join(TV, 'keys/ws_demo.json'));
    const dir = mkdtempSync(join(tmpdir(), 'kvitto-xss-'));
    const evil = {
      payload: {
        v: 1,
        kind: 'check',
        receipt_id: '<script>window.__pwned=1</script>',
        workspace_id: 'ws_demo',
        authorization_id: 'auth_\u202eevil<img src=x onerror="window.__pwned=2">',
        seq: 1,
        prev: null,
        issued_at: '2026-11-22T01:15:00Z',
        kid: 'ws_demo.2026-11-01',
        note: '<b>bold</b>\u2066\u202e\u2028<iframe src="javascript:window.__pwned=3"></iframe>',
      },
      sig: 'A'.repeat(86),
    };
    const file = join(dir, 'evil.jsonl');
    writeFileSync(file, `${readFileSync(join(TV, 'receipts/valid/created.json'), 'utf8').trim()}\n${JSON.stringify(evil)}\n`);
    await verify(page, file);
    const rows = await rowTexts(page);
    assert.equal(rows.length, 2);
    assert.equal(rows[1][1], 'bad_structure');
    assert.equal(rows[1][7], '<script>window.__pwned=1</script>');
    await page.click('#tab-chains');
    const chains = await rowTexts(page, '#chains-table');
    const shown = chains.map((r) => r[0]).join(' ');
    assert.match(shown, /auth_\\u\{202e\}evil<img src=x onerror="window.__pwned=2">/);
    assert.ok(!shown.includes('\u202e'), 'bidi controls are shown escaped, never raw');
    await page.click('#tab-receipts');
    await page.click('#receipts-table .vt-row[data-i="1"]');
    await page.waitForSelector('#detail[open] pre');
    const text = await page.textContent('#detail-body');
    assert.match(text, /<b>bold<\/b>\\u\{2066\}\\u\{202e\}\\u\{2028\}<iframe/);
    assert.ok(!/[\u202a-\u202e\u2066-\u2069\u2028]/.test(text), 'no raw bidi or separator characters');
    await page.screenshot({ path: join(ARTIFACTS, 'inert-markup.png') });
    const injected = await page.evaluate(() => ({
      pwned: window.__pwned ?? null,
      elements: document.querySelectorAll('main script, main img, main iframe, main b, dialog script, dialog img, dialog iframe, dialog b').length,
    }));
    assert.deepEqual(injected, { pwned: null, elements: 0 });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('the sample export: the report downloads as the CLI writes it; chains; phone width; offline', async () => {
    const { page, problems } = await fresh();
    await loadKeys(page, join(TV, 'sample/keys.json'));
    // Offline from here on: everything the page needs is loaded.
    await browser.context.setOffline(true);
    await verify(page, join(TV, 'sample/export-tampered.jsonl'));
    assert.equal(await verdictKind(page), 'bad');
    assert.match(await page.textContent('#verdict'), /1 of 27 receipts invalid, 1 chain broken/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const report = readFileSync(await download.path(), 'utf8');
    const cli = cliReport(
      ['verify', '--keys', 'keys.json', '--chains', '--format', 'json', 'export-tampered.jsonl'],
      join(TV, 'sample'),
    );
    if (cli !== null) assert.equal(report, cli, 'the page writes exactly the CLI lines');
    else assert.match(report.trim().split('\n').at(-1), /^\{"type":"summary","schema":1,"receipts":27,"valid":26,"invalid":1,/);
    await page.screenshot({ path: join(ARTIFACTS, 'sample-tampered.png'), fullPage: true });
    await page.check('#only-failures');
    assert.equal((await rowTexts(page)).length, 1);
    await page.click('#tab-chains');
    await page.check('#only-broken');
    const broken = await rowTexts(page, '#chains-table');
    assert.deepEqual(broken.map((r) => [r[0], r[1]]), [['auth_9Kd4ledger', 'chain_invalid_receipt']]);
    await page.click('#chains-table .vt-row');
    await page.waitForSelector('#chain[open] #chain-table .vt-row');
    assert.match(await page.textContent('#chain-summary'), /Broken: chain_invalid_receipt/);
    await page.screenshot({ path: join(ARTIFACTS, 'chain-view.png') });
    await page.keyboard.press('Escape');
    await browser.context.setOffline(false);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#tab-receipts');
    await page.uncheck('#only-failures');
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `no horizontal scrolling at phone width (${width}px)`);
    await page.screenshot({ path: join(ARTIFACTS, 'phone.png'), fullPage: true });
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('.gz, a JSON array and several files in one run report as the CLI does; a broken .gz is an io_error', async () => {
    const { page, problems } = await fresh();
    await loadKeys(page, join(TV, 'sample/keys.json'));
    const dir = mkdtempSync(join(tmpdir(), 'kvitto-inputs-'));
    const lines = readFileSync(join(TV, 'sample/export-tampered.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(join(dir, 'keys.json'), readFileSync(join(TV, 'sample/keys.json')));
    writeFileSync(join(dir, 'a-export.jsonl.gz'), gzipSync(`${lines.slice(0, 20).join('\n')}\n`));
    writeFileSync(join(dir, 'b-array.json'), `[\n  ${lines.slice(20).join(',\n  ')}\n]\n`);
    await verify(page, [join(dir, 'a-export.jsonl.gz'), join(dir, 'b-array.json')]);
    const rows = await rowTexts(page);
    assert.equal(rows[13][1], 'signature_invalid');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const report = readFileSync(await download.path(), 'utf8');
    const cli = cliReport(['verify', '--keys', 'keys.json', '--chains', '--format', 'json', 'a-export.jsonl.gz', 'b-array.json'], dir);
    if (cli !== null) assert.equal(report, cli, 'the same lines as the CLI for .gz and array inputs');
    const last = JSON.parse(report.trim().split('\n').at(-1));
    assert.deepEqual([last.receipts, last.invalid, last.chains.broken], [27, 1, 1]);
    // The detail of a receipt inside the .gz input is read again from it.
    await page.click('#receipts-table .vt-row[data-i="13"]');
    await page.waitForSelector('#detail[open] details');
    assert.match(await page.textContent('#detail-body'), /rcpt_9Kd4ledger_3/);
    await page.keyboard.press('Escape');
    // A gzip stream that breaks off: what was read is kept, the rest is an io_error.
    const gz = gzipSync(`${lines.join('\n')}\n`);
    writeFileSync(join(dir, 'broken.jsonl.gz'), gz.subarray(0, Math.floor(gz.length / 2)));
    await verify(page, join(dir, 'broken.jsonl.gz'));
    assert.equal(await verdictKind(page), 'warn');
    assert.match(await page.textContent('#run-errors'), /io_error: broken\.jsonl\.gz: /);
    const [d2] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const summary = JSON.parse(readFileSync(await d2.path(), 'utf8').trim().split('\n').at(-1));
    assert.equal(summary.complete, false);
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('cancel stops a run with an incomplete summary, and the next run works', async () => {
    const exportFile = process.env.KVITTO_EXPORT;
    const keysFile = process.env.KVITTO_EXPORT_KEYS;
    assert.ok(exportFile && keysFile, 'KVITTO_EXPORT and KVITTO_EXPORT_KEYS must be set');
    const { page, problems } = await fresh();
    await loadKeys(page, keysFile);
    await page.setInputFiles('#files', exportFile);
    await page.click('#verify');
    await page.waitForFunction(() => Number(document.getElementById('results').dataset.receipts ?? 0) > 0, null, { timeout: HANG });
    await page.click('#cancel');
    await page.waitForFunction(() => document.getElementById('results').dataset.state === 'cancelled', null, { timeout: HANG });
    assert.equal(await verdictKind(page), 'warn');
    assert.match(await page.textContent('#verdict'), /INCOMPLETE/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const last = JSON.parse(readFileSync(await download.path(), 'utf8').trim().split('\n').at(-1));
    assert.equal(last.type, 'summary');
    assert.equal(last.complete, false);
    assert.ok(last.receipts > 0 && last.receipts < 100_000, `${last.receipts} receipts before the cancel`);
    assert.equal(last.chains.total, 0, 'chains are not checked after a cancel');
    // The workers are ready for the next run.
    await verify(page, join(TV, 'receipts/valid/created.json'));
    assert.equal(await verdictKind(page), 'bad', 'created.json is not of this key document: workspace_mismatch');
    assert.equal((await rowTexts(page))[0][1], 'workspace_mismatch');
    assert.deepEqual(problems, []);
    await page.close();
  });

  test('a 100,000-line export: progress moves, the page answers clicks, the counts are right', async (t) => {
    const exportFile = process.env.KVITTO_EXPORT;
    const keysFile = process.env.KVITTO_EXPORT_KEYS;
    assert.ok(exportFile && keysFile, 'KVITTO_EXPORT and KVITTO_EXPORT_KEYS must name a gen-export export (scripts/wasm-tests.sh makes one)');
    const { page, problems } = await fresh();
    await page.setViewportSize({ width: 1280, height: 900 });
    await loadKeys(page, keysFile);
    await page.setInputFiles('#files', exportFile);
    await page.click('#verify');
    const seen = [];
    let clicked = null;
    for (;;) {
      const s = await page.evaluate(() => ({
        state: document.getElementById('results').dataset.state,
        value: document.getElementById('progress').value,
        receipts: Number(document.getElementById('results').dataset.receipts ?? 0),
      }));
      if (s.state !== 'running') break;
      seen.push(s.value);
      if (clicked === null && s.receipts > 0) {
        // A click while verification runs is handled (the main thread is free).
        const t0 = Date.now();
        await page.click('#only-failures', { timeout: HANG });
        await page.waitForFunction(() => document.getElementById('pane-receipts').dataset.filter === 'failures', null, {
          timeout: HANG,
        });
        clicked = { ms: Date.now() - t0, running: await page.getAttribute('#results', 'data-state') };
        await page.click('#only-failures');
      }
      await page.waitForTimeout(200);
    }
    await page.waitForFunction(() => document.getElementById('results').dataset.state === 'done', null, { timeout: HANG });
    const moving = [...new Set(seen.filter((v) => v > 0 && v < 1))];
    assert.ok(moving.length >= 2, `the progress bar moved: ${JSON.stringify(moving.slice(0, 10))}`);
    assert.ok(moving.every((v, i) => i === 0 || v >= moving[i - 1]), 'progress never goes back');
    assert.ok(clicked, 'a click was made while the run was going');
    assert.equal(clicked.running, 'running', 'the click was handled before the run ended');
    t.diagnostic(`click handled in ${clicked.ms} ms while verifying`);
    const summary = await page.$$eval('#summary div', (ds) => Object.fromEntries(ds.map((d) => [d.dataset.name, d.querySelector('dd').textContent])));
    assert.equal(summary.Receipts, '100,000');
    assert.equal(summary.Invalid, '0');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const report = readFileSync(await download.path(), 'utf8').trim().split('\n');
    assert.equal(report.length, 100_000 + Number(summary.Chains.replace(/,/g, '')) + 1);
    const mine = JSON.parse(report.at(-1));
    const cli = cliReport(['verify', '--keys', keysFile, '--chains', '--format', 'json', '--quiet', exportFile], ROOT);
    if (cli !== null) {
      const theirs = JSON.parse(cli.trim().split('\n').at(-1));
      assert.deepEqual({ ...mine, keys: null }, { ...theirs, keys: null }, 'the same counts as the CLI');
      assert.equal(mine.keys[0].sha256, theirs.keys[0].sha256);
    }
    assert.equal(mine.receipts, 100_000);
    t.diagnostic(`browser: ${await page.getAttribute('#results', 'data-rate')} receipts/s`);
    await page.screenshot({ path: join(ARTIFACTS, 'export-100k.png') });
    // Scroll to the end of 100,000 rows: the table renders what is in view.
    await page.evaluate(() => {
      const b = document.querySelector('#receipts-table .vt-body');
      b.scrollTop = b.scrollHeight;
    });
    await page.waitForFunction(() => document.querySelector('#receipts-table .vt-row[data-i="99999"]') !== null, null, {
      timeout: HANG,
    });
    const inDom = await page.$$eval('#receipts-table .vt-row', (r) => r.length);
    assert.ok(inDom < 200, `only the rows in view are in the DOM (${inDom})`);
    assert.deepEqual(problems, []);
    await page.close();
  });
});
