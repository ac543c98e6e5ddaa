// The verification page: inputs, the worker pool, the summary, the tables
// and the detail views. Verdicts come from kvitto-core (in the workers, and
// here for one receipt's detail); text from receipts is only ever set with
// textContent, after kvitto-report's escape of control and bidi characters.
import { init, KeySet, fetchKeyDocument, inspectReceipt, escapeText } from './kvitto/index.js';
import { VirtualTable, el } from './table.js';

const $ = (id) => document.getElementById(id);
const encoder = new TextEncoder();
const nf = new Intl.NumberFormat('en-US');
const fmt = (n) => nf.format(Math.round(n));
const MAX_SHOWN = (1 << 20) + 1;

const state = {
  ready: false,
  coordinator: null,
  workers: 0,
  keyDocs: [], // { bytes, pin, source, set }
  files: [],
  runId: 0,
  running: false,
  rows: [],
  failures: [],
  chains: [],
  brokenChains: [],
  final: null,
  report: null,
  sources: [],
  lastFocus: null,
};

// ---- boot: one compiled module, shared with every worker ----

async function compileModule() {
  const url = new URL('kvitto/kvitto_wasm_bg.wasm', import.meta.url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url.pathname}: HTTP ${res.status}`);
  try {
    return await WebAssembly.compileStreaming(res.clone());
  } catch {
    // A server that does not send application/wasm: compile from the bytes.
    return WebAssembly.compile(await res.arrayBuffer());
  }
}

function waitFor(worker, type) {
  return new Promise((resolve, reject) => {
    const on = (e) => {
      if (e.data?.type === type) {
        worker.removeEventListener('message', on);
        resolve(e.data);
      } else if (e.data?.type === 'fatal') {
        worker.removeEventListener('message', on);
        reject(new Error(e.data.message));
      }
    };
    worker.addEventListener('message', on);
    worker.addEventListener('error', (e) => reject(new Error(e.message || 'worker failed to load')), { once: true });
  });
}

async function boot() {
  const module = await compileModule();
  await init(module);
  const n = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
  const coordinator = new Worker(new URL('coordinator.js', import.meta.url), { type: 'module', name: 'kvitto-coordinator' });
  const ports = [];
  const verifiers = [];
  for (let i = 0; i < n; i++) {
    const w = new Worker(new URL('verifier.js', import.meta.url), { type: 'module', name: `kvitto-verify-${i}` });
    const ch = new MessageChannel();
    const ready = waitFor(w, 'ready');
    w.postMessage({ type: 'init', module, port: ch.port2 }, [ch.port2]);
    ports.push(ch.port1);
    verifiers.push(ready);
  }
  const ready = waitFor(coordinator, 'ready');
  coordinator.postMessage({ type: 'init', module, ports }, ports);
  await Promise.all([ready, ...verifiers]);
  coordinator.addEventListener('message', (e) => onCoordinator(e.data));
  state.coordinator = coordinator;
  state.workers = n;
  state.ready = true;
  const boot = $('boot');
  boot.textContent = `Ready: ${n} verify worker${n === 1 ? '' : 's'}.`;
  boot.className = 'hint';
  document.body.dataset.ready = 'true';
  updateButtons();
}

// ---- key documents ----

const loopbackPage = ['127.0.0.1', 'localhost', '[::1]'].includes(location.hostname);

function keySource() {
  return document.querySelector('input[name=keysrc]:checked').value;
}

for (const r of document.querySelectorAll('input[name=keysrc]')) {
  r.addEventListener('change', () => {
    for (const box of document.querySelectorAll('.keysrc')) box.hidden = box.dataset.src !== keySource();
    hideKeyError();
  });
}

function showKeyError(code, message) {
  const box = $('keys-error');
  box.replaceChildren();
  if (code) box.append(el('span', 'code', code), ': ');
  box.append(escapeText(message));
  box.hidden = false;
  box.dataset.code = code ?? '';
}

function hideKeyError() {
  $('keys-error').hidden = true;
  $('keys-error').dataset.code = '';
}

async function addKeys() {
  if (!state.ready) return;
  hideKeyError();
  const pin = $('pin').value.trim() || undefined;
  let bytes;
  let source;
  let set;
  const button = $('keys-add');
  button.disabled = true;
  try {
    const src = keySource();
    if (src === 'file') {
      const file = $('keys-file').files[0];
      if (!file) return showKeyError(null, 'Choose a key document file first.');
      bytes = new Uint8Array(await file.arrayBuffer());
      source = file.name;
    } else if (src === 'paste') {
      const text = $('keys-text').value;
      if (!text.trim()) return showKeyError(null, 'Paste the key document JSON first.');
      bytes = encoder.encode(text);
      source = 'pasted JSON';
    } else {
      const url = $('keys-url').value.trim();
      if (!url) return showKeyError(null, 'Give the key document URL first.');
      const doc = await fetchKeyDocument(url, { expectedSha256: pin, allowInsecureLocalhost: loopbackPage });
      doc.keys.free();
      bytes = doc.bytes;
      source = url;
    }
    set = KeySet.fromJson(bytes, pin, { source });
  } catch (e) {
    return showKeyError(e.code ?? null, e.message ?? String(e));
  } finally {
    button.disabled = false;
  }
  const same = state.keyDocs.find((d) => d.set.workspaceId === set.workspaceId);
  if (same) {
    set.free();
    return showKeyError(
      null,
      `A key document for workspace ${same.set.workspaceId} is already loaded (${same.source}); remove it first. Each receipt is checked against the document of its own workspace.`,
    );
  }
  state.keyDocs.push({ bytes, pin, source, set });
  $('pin').value = '';
  renderKeys();
  updateButtons();
}

function renderKeys() {
  const list = $('keys-list');
  list.replaceChildren();
  for (const doc of state.keyDocs) {
    const li = el('li');
    li.dataset.workspace = doc.set.workspaceId;
    const head = el('div', 'doc-head');
    const left = el('div');
    left.append(el('span', 'ws', escapeText(doc.set.workspaceId)), ' ');
    left.append(
      doc.set.pinned
        ? el('span', 'badge ok', 'pinned: matches the pin')
        : el('span', 'badge warn', 'not pinned: compare the SHA-256 below with one from a trusted channel'),
    );
    const remove = el('button', '', 'Remove');
    remove.type = 'button';
    remove.setAttribute('aria-label', `Remove the key document for ${doc.set.workspaceId}`);
    remove.addEventListener('click', () => {
      doc.set.free();
      state.keyDocs = state.keyDocs.filter((d) => d !== doc);
      renderKeys();
      updateButtons();
    });
    head.append(left, remove);
    li.append(head);
    const facts = el('dl', 'facts');
    fact(facts, 'SHA-256', doc.set.sha256);
    fact(facts, 'Source', escapeText(doc.source));
    li.append(facts);
    const table = el('table', 'keys');
    const cap = el('caption', 'visually-hidden', `Keys of ${doc.set.workspaceId}`);
    const thead = el('thead');
    const tr = el('tr');
    for (const h of ['kid', 'status', 'not before', 'not after']) {
      const th = el('th', '', h);
      th.scope = 'col';
      tr.append(th);
    }
    thead.append(tr);
    const tbody = el('tbody');
    for (const k of doc.set.keys) {
      const row = el('tr');
      row.append(
        el('td', '', escapeText(k.kid)),
        el('td', k.status === 'revoked' ? 'v-bad' : k.status === 'retired' ? 'v-warn' : 'v-ok', k.status),
        el('td', '', k.notBefore),
        el('td', '', k.notAfter ?? 'open'),
      );
      tbody.append(row);
    }
    table.append(cap, thead, tbody);
    li.append(table);
    list.append(li);
  }
}

function fact(dl, name, value, cls) {
  const dt = el('dt', '', name);
  const dd = el('dd', cls ?? '', value);
  dl.append(dt, dd);
  return dd;
}

$('keys-add').addEventListener('click', addKeys);

// ---- files ----

function setFiles(files) {
  state.files = [...files];
  const list = $('file-list');
  list.replaceChildren();
  for (const f of state.files) list.append(el('li', '', `${escapeText(f.name)} — ${size(f.size)}`));
  updateButtons();
}

function size(n) {
  if (n < 1024) return `${n} bytes`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

$('files').addEventListener('change', (e) => setFiles(e.target.files));
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer?.files?.length) setFiles(e.dataTransfer.files);
});
// A file dropped anywhere else must not navigate away from the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

function updateButtons() {
  const why = !state.ready
    ? 'Loading the verifier…'
    : state.keyDocs.length === 0
      ? 'Load a key document first.'
      : state.files.length === 0
        ? 'Choose or drop the receipt files.'
        : '';
  $('verify').disabled = state.running || why !== '';
  $('why-disabled').textContent = state.running ? '' : why;
  $('cancel').disabled = !state.running;
}

// ---- a run ----

function startRun() {
  if (state.running || $('verify').disabled) return;
  state.runId++;
  state.running = true;
  state.rows = [];
  state.failures = [];
  state.chains = [];
  state.brokenChains = [];
  state.final = null;
  state.report = null;
  state.sources = state.files.map((f) => f.name);
  state.runFiles = state.files.slice();
  // The run's own key sets (for the detail view), whatever is removed later.
  for (const k of state.runKeys ?? []) k.free();
  state.runKeys = state.keyDocs.map((d) => KeySet.fromJson(d.bytes, d.pin, { source: d.source }));
  state.started = performance.now();
  $('results').hidden = false;
  $('results').dataset.state = 'running';
  $('download').disabled = true;
  $('progress-box').hidden = false;
  $('progress').value = 0;
  $('progress-text').textContent = 'Starting…';
  $('run-errors').replaceChildren();
  setVerdict('warn', 'Verifying…', 'Results appear as receipts are checked.');
  renderSummary({ receipts: 0, invalid: 0 });
  receiptsTable.setSource(receiptSource());
  chainsTable.setSource(chainSource());
  updateCounts();
  updateButtons();
  state.coordinator.postMessage({
    type: 'start',
    run: state.runId,
    files: state.runFiles,
    keys: state.keyDocs.map((d) => ({ bytes: d.bytes, pin: d.pin, source: d.source })),
    chains: $('chains').checked,
  });
}

$('verify').addEventListener('click', startRun);
$('cancel').addEventListener('click', () => {
  if (!state.running) return;
  $('cancel').disabled = true;
  $('progress-text').textContent += ' — cancelling…';
  state.coordinator.postMessage({ type: 'cancel', run: state.runId });
});

let lastAnnounce = 0;

function onCoordinator(m) {
  if (m.run !== state.runId) return;
  if (m.type === 'progress') {
    for (const json of m.rows) {
      const batch = JSON.parse(json);
      for (const r of batch) {
        if (!r.ok) state.failures.push(state.rows.length);
        state.rows.push(r);
      }
    }
    const frac = m.total > 0 ? Math.min(1, m.read / m.total) : 0;
    $('progress').value = frac;
    const text = `${fmt(m.receipts)} receipts · ${fmt(m.invalid)} invalid · ${fmt(m.rate)} receipts/s · ${Math.floor(frac * 100)}% of ${size(m.total)}`;
    $('progress-text').textContent = text;
    $('results').dataset.receipts = String(m.receipts);
    const now = performance.now();
    if (now - lastAnnounce > 5000) {
      lastAnnounce = now;
      $('progress-status').textContent = text;
    }
    renderSummary({ receipts: m.receipts, invalid: m.invalid, rate: m.rate, elapsed: m.elapsed });
    receiptsTable.refresh();
    updateCounts();
  } else if (m.type === 'done') {
    finishRun(m);
  } else if (m.type === 'failed') {
    state.running = false;
    $('results').dataset.state = 'failed';
    setVerdict('bad', 'Nothing verified', `${m.code ? `${m.code}: ` : ''}${escapeText(m.message)}`);
    $('progress-box').hidden = true;
    updateButtons();
  }
}

function finishRun(m) {
  state.running = false;
  state.final = m.final;
  state.report = m.report;
  state.chains = m.final.chains;
  state.brokenChains = [];
  state.chains.forEach((c, i) => {
    if (!c.ok) state.brokenChains.push(i);
  });
  const s = m.final.summary;
  const rate = m.elapsed > 0 ? s.receipts / m.elapsed : 0;
  $('progress').value = m.cancelled ? $('progress').value : 1;
  $('progress-text').textContent = `${fmt(s.receipts)} receipts in ${m.elapsed.toFixed(2)} s · ${fmt(rate)} receipts/s${m.cancelled ? ' · cancelled' : ''}`;
  const res = $('results');
  res.dataset.state = m.cancelled ? 'cancelled' : 'done';
  res.dataset.receipts = String(s.receipts);
  res.dataset.rate = String(rate);
  res.dataset.elapsed = String(m.elapsed);
  renderSummary({ receipts: s.receipts, invalid: s.invalid, rate, elapsed: m.elapsed }, s);
  renderVerdict(m.final, m.cancelled);
  renderErrors(m.final.errors);
  renderSummaryKeys(s.keys);
  receiptsTable.refresh();
  chainsTable.setSource(chainSource());
  updateCounts();
  $('download').disabled = false;
  $('progress-status').textContent = $('verdict').textContent;
  updateButtons();
}

function setVerdict(kind, title, why) {
  const v = $('verdict');
  v.className = `verdict ${kind}`;
  v.dataset.kind = kind;
  // A hidden full stop, so that a screen reader pauses between the two lines.
  v.replaceChildren(el('span', '', title), el('span', 'visually-hidden', '. '), el('span', 'why', why));
}

function renderVerdict(final, cancelled) {
  const s = final.summary;
  const c = s.chains;
  const chainText =
    c.total > 0
      ? `${fmt(c.total)} chains: ${fmt(c.intact)} intact (${fmt(c.closed)} closed, ${fmt(c.open)} open: truncation not checked), ${fmt(c.broken)} broken.`
      : '';
  if (s.invalid > 0 || c.broken > 0) {
    setVerdict(
      'bad',
      `FAILED: ${fmt(s.invalid)} of ${fmt(s.receipts)} receipts invalid${c.broken ? `, ${fmt(c.broken)} chain${c.broken === 1 ? '' : 's'} broken` : ''}`,
      cancelled ? `Cancelled: partial results, chains not checked. ${chainText}` : chainText || 'Chains were not checked.',
    );
  } else if (cancelled || !s.complete) {
    setVerdict(
      'warn',
      `INCOMPLETE: ${fmt(s.receipts)} receipts checked, all valid so far`,
      cancelled ? 'Cancelled before the end of the input: chains were not checked.' : 'An input could not be read to its end (see below).',
    );
  } else if (s.receipts === 0) {
    setVerdict('bad', 'FAILED: no receipts found in the input', 'An empty input is never valid.');
  } else {
    setVerdict('ok', s.receipts === 1 ? 'VALID: the receipt verified' : `VALID: all ${fmt(s.receipts)} receipts verified`, chainText || 'Chains were not checked.');
  }
}

function renderSummary(p, s) {
  const dl = $('summary');
  dl.replaceChildren();
  const item = (name, value, cls) => {
    const d = el('div');
    d.append(el('dt', '', name), el('dd', cls ?? '', value));
    d.dataset.name = name;
    dl.append(d);
  };
  item('Receipts', fmt(p.receipts));
  item('Valid', fmt(p.receipts - p.invalid), p.receipts > p.invalid ? 'ok' : '');
  item('Invalid', fmt(p.invalid), p.invalid ? 'bad' : '');
  if (s && s.chains.total > 0) {
    item('Chains', fmt(s.chains.total));
    item('Closed (complete)', fmt(s.chains.closed), s.chains.closed ? 'ok' : '');
    item('Open (truncation not checked)', fmt(s.chains.open), s.chains.open ? 'warn' : '');
    item('Broken', fmt(s.chains.broken), s.chains.broken ? 'bad' : '');
    if (s.chains.ungrouped) item('In no chain', fmt(s.chains.ungrouped), 'warn');
  }
  if (p.rate !== undefined) item('Receipts/s', fmt(p.rate));
  if (p.elapsed !== undefined) item('Time', `${p.elapsed.toFixed(1)} s`);
}

function renderSummaryKeys(keys) {
  const box = $('summary-keys');
  box.replaceChildren();
  for (const k of keys) {
    const p = el('p');
    p.append(
      'Keys: ',
      el('strong', '', escapeText(k.workspace_id)),
      ' ',
      el('span', 'hash', k.sha256),
      ' ',
      k.pinned ? el('span', 'badge ok', 'pinned') : el('span', 'badge warn', 'not pinned'),
      ` (${escapeText(k.source)})`,
    );
    box.append(p);
  }
}

function renderErrors(errors) {
  const box = $('run-errors');
  box.replaceChildren();
  for (const e of errors) {
    const a = el('div', 'alert');
    a.append(el('span', 'code', e.code), ': ', escapeText(e.message));
    box.append(a);
  }
}

$('download').addEventListener('click', () => {
  if (!state.report) return;
  const url = URL.createObjectURL(state.report);
  const a = el('a');
  a.href = url;
  a.download = 'kvitto-report.jsonl';
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
});

// ---- tables ----

const verdictCell = (r) => (r.ok ? { text: 'valid', cls: 'v-ok' } : { text: r.code, cls: 'v-bad' });
const show = (s) => (s === null || s === undefined ? '—' : escapeText(String(s)));
const place = (r) => {
  const at = r.index === null ? `${r.line}` : `${r.line} [${r.index}]`;
  return state.sources.length > 1 ? `${escapeText(r.source)}:${at}` : at;
};

const receiptsTable = new VirtualTable($('receipts-table'), {
  label: 'Receipts',
  empty: 'No receipts yet.',
  minWidth: 1050,
  columns: [
    { title: 'Line', width: 'minmax(4rem, .5fr)', narrow: true, cell: (r) => ({ text: place(r), cls: 'm' }) },
    { title: 'Verdict', width: 'minmax(11rem, .9fr)', narrow: true, cell: verdictCell },
    { title: 'Kind', width: 'minmax(11.5rem, 1.1fr)', narrow: true, cell: (r) => ({ text: show(r.kind) }) },
    { title: 'Decision', width: 'minmax(5.5rem, .6fr)', cell: (r) => ({ text: show(r.decision) }) },
    { title: 'Scope', width: 'minmax(7rem, 1fr)', cell: (r) => ({ text: show(r.scope) }) },
    { title: 'Issued at', width: 'minmax(13rem, 1.1fr)', cell: (r) => ({ text: show(r.issued_at), cls: 'm' }) },
    { title: 'Kid', width: 'minmax(10rem, 1fr)', cell: (r) => ({ text: show(r.kid), cls: 'm', title: r.kid ?? '' }) },
    { title: 'Receipt id', width: 'minmax(8rem, 1.1fr)', cell: (r) => ({ text: show(r.receipt_id), cls: 'm' }) },
  ],
  onOpen: (r, i, rowEl) => openReceipt(r, rowEl),
});

function receiptSource() {
  const only = $('only-failures').checked;
  return {
    length: () => (only ? state.failures.length : state.rows.length),
    row: (i) => (only ? state.rows[state.failures[i]] : state.rows[i]),
    rowClass: (r) => (r && !r.ok ? 'bad' : ''),
  };
}

const chainsTable = new VirtualTable($('chains-table'), {
  label: 'Chains',
  empty: 'Chains appear when the run ends (with "Check chains").',
  minWidth: 860,
  columns: [
    { title: 'Authorization', width: 'minmax(10rem, 1.6fr)', narrow: true, cell: (c) => ({ text: escapeText(c.authorization_id), cls: 'm' }) },
    {
      title: 'Verdict',
      width: 'minmax(12rem, 1.2fr)',
      narrow: true,
      cell: (c) =>
        !c.ok ? { text: c.code, cls: 'v-bad' } : c.closed ? { text: 'closed', cls: 'v-ok' } : { text: 'open', cls: 'v-warn', title: 'truncation not checked' },
    },
    { title: 'Receipts', width: 'minmax(5rem, .6fr)', cell: (c) => ({ text: fmt(c.receipts) + (c.duplicates ? ` (${fmt(c.duplicates)} dup.)` : '') }) },
    { title: 'Head seq', width: 'minmax(5rem, .6fr)', cell: (c) => ({ text: c.head_seq === null ? '—' : String(c.head_seq) }) },
    { title: 'Message', width: 'minmax(12rem, 3fr)', cell: (c) => ({ text: escapeText(c.message), title: escapeText(c.message) }) },
  ],
  onOpen: (c, i, rowEl) => openChain(c, rowEl),
});

function chainSource() {
  const only = $('only-broken').checked;
  return {
    length: () => (only ? state.brokenChains.length : state.chains.length),
    row: (i) => (only ? state.chains[state.brokenChains[i]] : state.chains[i]),
    rowClass: (c) => (c && !c.ok ? 'bad' : ''),
  };
}

function updateCounts() {
  $('receipts-count').textContent = `${fmt(state.rows.length)} receipts, ${fmt(state.failures.length)} invalid`;
  $('chains-count').textContent = `${fmt(state.chains.length)} chains, ${fmt(state.brokenChains.length)} broken`;
  $('tab-receipts').textContent = `Receipts (${fmt(state.rows.length)})`;
  $('tab-chains').textContent = `Chains (${fmt(state.chains.length)})`;
}

$('only-failures').addEventListener('change', () => {
  receiptsTable.setSource(receiptSource());
  $('pane-receipts').dataset.filter = $('only-failures').checked ? 'failures' : 'all';
});
$('only-broken').addEventListener('change', () => chainsTable.setSource(chainSource()));

// Tabs: arrow keys move between them (WAI-ARIA tabs pattern).
const tabs = [$('tab-receipts'), $('tab-chains')];
function selectTab(tab, focus) {
  for (const t of tabs) {
    const on = t === tab;
    t.setAttribute('aria-selected', String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute('aria-controls')).hidden = !on;
  }
  if (focus) tab.focus();
  receiptsTable.refresh();
  chainsTable.refresh();
}
for (const t of tabs) {
  t.addEventListener('click', () => selectTab(t, false));
  t.addEventListener('keydown', (e) => {
    const i = tabs.indexOf(t);
    if (e.key === 'ArrowRight') selectTab(tabs[(i + 1) % tabs.length], true);
    else if (e.key === 'ArrowLeft') selectTab(tabs[(i + tabs.length - 1) % tabs.length], true);
    else return;
    e.preventDefault();
  });
}

// ---- detail views ----

for (const d of document.querySelectorAll('dialog')) {
  d.addEventListener('click', (e) => {
    if (e.target === d || e.target.closest('[data-close]')) d.close();
  });
  d.addEventListener('close', () => {
    const back = d.returnFocusTo;
    d.returnFocusTo = null;
    if (back && document.contains(back)) back.focus();
  });
}

function openDialog(d, opener) {
  d.returnFocusTo = opener ?? document.activeElement;
  if (!d.open) d.showModal();
  d.querySelector('[data-close]').focus();
}

async function recordBytes(r) {
  const file = state.runFiles[r.source_index];
  if (!file) return null;
  const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
  const gz = /\.gz$/i.test(file.name) || (head[0] === 0x1f && head[1] === 0x8b);
  if (!gz) return new Uint8Array(await file.slice(r.offset, r.offset + r.size).arrayBuffer());
  // A .gz input: decompress again up to the record (the page holds no receipt text).
  const reader = file.stream().pipeThrough(new DecompressionStream('gzip')).getReader();
  const out = new Uint8Array(r.size);
  let pos = 0;
  let got = 0;
  try {
    while (got < r.size) {
      const { value, done } = await reader.read();
      if (done) break;
      const start = Math.max(r.offset - pos, 0);
      const end = Math.min(value.byteLength, r.offset + r.size - pos);
      if (end > start) {
        out.set(value.subarray(start, end), got);
        got += end - start;
      }
      pos += value.byteLength;
    }
  } finally {
    reader.cancel().catch(() => {});
  }
  return out.subarray(0, got);
}

function pretty(canonical) {
  try {
    return JSON.stringify(JSON.parse(canonical), null, 2);
  } catch {
    return canonical;
  }
}

/** Text in a block, line by line: line feeds stay line breaks, every other
 * control, bidi or separator character is shown escaped. */
function pre(text) {
  const p = el('pre', 'text');
  p.textContent = text.split('\n').map(escapeText).join('\n');
  return p;
}

async function openReceipt(r, opener) {
  const dlg = $('detail');
  const body = $('detail-body');
  body.replaceChildren(el('p', 'hint', 'Reading the receipt…'));
  $('detail-h').textContent = `Receipt at ${r.source === undefined ? '' : escapeText(r.source)}:${r.line}${r.index === null ? '' : ` [${r.index}]`}`;
  openDialog(dlg, opener);
  const verdict = el('div', `verdict ${r.ok ? 'ok' : 'bad'}`);
  verdict.dataset.kind = r.ok ? 'ok' : 'bad';
  verdict.append(el('span', '', r.ok ? 'Valid' : `Invalid: ${r.code}`));
  if (!r.ok) verdict.append(el('span', 'why', escapeText(r.message ?? '')));
  const facts = el('dl', 'facts');
  fact(facts, 'Receipt id', show(r.receipt_id));
  fact(facts, 'Authorization', show(r.authorization_id));
  if (r.ok) {
    fact(facts, 'Kind', show(r.kind));
    fact(facts, 'Seq', show(r.seq));
    fact(facts, 'Prev', show(r.prev));
    fact(facts, 'Issued at', show(r.issued_at));
  }
  fact(facts, 'Receipt hash', show(r.receipt_hash));
  fact(facts, 'Size', `${fmt(r.size)} bytes at byte ${fmt(r.offset)}`);
  const parts = [verdict, facts];
  if (r.size > MAX_SHOWN) {
    parts.push(el('p', 'hint', 'This record is over 1 MiB: it is judged too_large and not shown.'));
    body.replaceChildren(...parts);
    return;
  }
  let bytes;
  try {
    bytes = await recordBytes(r);
  } catch (e) {
    parts.push(el('p', 'alert', `The receipt could not be read again: ${escapeText(e.message ?? String(e))}`));
    body.replaceChildren(...parts);
    return;
  }
  if (!dlg.open) return;
  const ins = inspectReceipt(bytes, state.runKeys);
  const v = ins.verified;
  if (v) {
    parts.push(el('h3', '', 'Signing key'));
    const kf = el('dl', 'facts');
    fact(kf, 'Kid', escapeText(v.key.kid));
    fact(kf, 'Status', v.key.status, v.key.status === 'active' ? 'v-ok' : v.key.status === 'revoked' ? 'v-bad' : 'v-warn');
    fact(kf, 'Window', `${v.key.notBefore} ≤ issued_at < ${v.key.notAfter ?? 'open'}`);
    fact(kf, 'Public key (x)', v.key.x);
    if (v.keyDocument) {
      fact(kf, 'Key document', `${v.keyDocument.sha256} (${v.keyDocument.pinned ? 'pinned' : 'not pinned'}, ${escapeText(v.keyDocument.source)})`);
    }
    parts.push(kf);
  } else if (ins.error && ins.error.code !== r.code) {
    // Never expected: the same core judged the same bytes with the same keys.
    parts.push(el('p', 'alert', `Judged again here: ${ins.error.code}: ${escapeText(ins.error.message)}`));
  }
  if (ins.canonical !== null) {
    parts.push(el('h3', '', 'Payload'));
    parts.push(pre(pretty(ins.canonical)));
    parts.push(el('h3', '', `Canonical bytes, JCS(payload): ${fmt(encoder.encode(ins.canonical).length)} bytes`));
    parts.push(el('p', 'hint', 'Signed as the bytes "kvitto/receipt/v1", a line feed, then these. Their SHA-256 is the receipt hash:'));
    parts.push(el('p', 'hash', ins.receiptHash ?? '—'));
    parts.push(pre(ins.canonical));
  } else if (ins.parseError) {
    parts.push(el('p', 'hint', `Does not parse under the strict JSON profile: ${ins.parseError.code}: ${escapeText(ins.parseError.message)}`));
  }
  const raw = el('details');
  raw.append(el('summary', '', 'The receipt as given'));
  raw.append(pre(new TextDecoder().decode(bytes)));
  parts.push(raw);
  body.replaceChildren(...parts);
}

let chainRows = [];
const chainReceipts = new VirtualTable($('chain-table'), {
  label: 'Receipts of the chain',
  empty: 'No receipts.',
  minWidth: 860,
  columns: [
    { title: 'Seq', width: 'minmax(3.5rem, .5fr)', narrow: true, cell: (r) => ({ text: r.ok ? String(r.seq) : '?', cls: 'm' }) },
    { title: 'Verdict', width: 'minmax(11rem, 1fr)', narrow: true, cell: verdictCell },
    { title: 'Kind', width: 'minmax(8rem, 1.1fr)', cell: (r) => ({ text: show(r.kind) }) },
    { title: 'Issued at', width: 'minmax(14rem, 1.2fr)', cell: (r) => ({ text: show(r.issued_at), cls: 'm' }) },
    { title: 'Receipt hash', width: 'minmax(8rem, 1fr)', cell: (r) => ({ text: short(r.receipt_hash), cls: 'm', title: r.receipt_hash ?? '' }) },
    { title: 'Prev', width: 'minmax(8rem, 1fr)', cell: (r) => ({ text: short(r.prev), cls: 'm', title: r.prev ?? '' }) },
    { title: 'Line', width: 'minmax(4rem, .6fr)', narrow: true, cell: (r) => ({ text: place(r), cls: 'm' }) },
  ],
  onOpen: (r, i, rowEl) => openReceipt(r, rowEl),
});

function short(h) {
  return h ? `${h.slice(0, 15)}…` : '—';
}

function openChain(c, opener) {
  $('chain-h').textContent = `Chain ${escapeText(c.authorization_id)}`;
  const box = $('chain-summary');
  const v = el('div', `verdict ${!c.ok ? 'bad' : c.closed ? 'ok' : 'warn'}`);
  v.dataset.kind = !c.ok ? 'bad' : c.closed ? 'ok' : 'warn';
  v.append(
    el('span', '', !c.ok ? `Broken: ${c.code}` : c.closed ? 'Intact and closed: provably complete' : 'Intact, open'),
    el('span', 'why', escapeText(c.message)),
  );
  const facts = el('dl', 'facts');
  fact(facts, 'Receipts', `${fmt(c.receipts)}${c.duplicates ? ` (${fmt(c.duplicates)} exact duplicates: reported, not an error)` : ''}`);
  fact(facts, 'Head', c.head_seq === null ? '—' : `seq ${c.head_seq}, ${c.head_hash}`);
  box.replaceChildren(
    v,
    facts,
    el('p', 'hint', 'The receipts of this authorization, valid ones by seq (each prev names the receipt hash of the seq before it), then the invalid ones in input order. The verdict above is kvitto-core\'s, in the order of the chain rules.'),
  );
  const mine = state.rows.filter((r) => r.authorization_id === c.authorization_id);
  const valid = mine.filter((r) => r.ok).sort((a, b) => a.seq - b.seq);
  chainRows = valid.concat(mine.filter((r) => !r.ok));
  openDialog($('chain'), opener);
  chainReceipts.setSource({
    length: () => chainRows.length,
    row: (i) => chainRows[i],
    rowClass: (r) => (r && !r.ok ? 'bad' : ''),
  });
}

// ---- start ----

updateButtons();
boot().catch((e) => {
  const b = $('boot');
  b.className = 'alert';
  b.setAttribute('role', 'alert');
  b.textContent = `The verifier could not start: ${e.message ?? e}`;
  document.body.dataset.ready = 'error';
});
