// The coordinating worker: reads each file as a stream (gzip through
// DecompressionStream), pushes the bytes into kvitto-core's one Framer per
// input, hands batches of receipt texts to the verify workers, applies their
// answers in input order to the one kvitto-report Session (BatchRun), and
// reports rows, progress and the final summary to the page. Framing,
// verdicts, error codes and chains are all kvitto-core's; this file moves
// bytes and messages.
import { init, KeySet, BatchRun } from './kvitto/parallel.js';

const PER_WORKER = 2; // batches in flight per verify worker
const POST_MS = 120; // how often the page hears about progress

let workers = []; // { port, inflight }
let current = null; // the run in progress
const waiters = [];

function wake() {
  while (waiters.length) waiters.shift()();
}

function nextEvent() {
  return new Promise((resolve) => waiters.push(resolve));
}

self.onmessage = async (e) => {
  const m = e.data;
  if (m.type === 'init') {
    try {
      await init(m.module);
      workers = m.ports.map((port) => ({ port, inflight: 0 }));
      for (const w of workers) {
        w.port.onmessage = (ev) => onResult(w, ev.data);
      }
      self.postMessage({ type: 'ready', workers: workers.length });
    } catch (err) {
      self.postMessage({ type: 'fatal', message: String(err?.message ?? err) });
    }
  } else if (m.type === 'start') {
    start(m).catch((err) => {
      self.postMessage({ type: 'failed', run: m.run, code: err?.code ?? null, message: String(err?.message ?? err) });
      current = null;
    });
  } else if (m.type === 'cancel') {
    if (current && current.id === m.run) {
      current.cancelled = true;
      current.reader?.cancel().catch(() => {});
      wake();
    }
  }
};

function onResult(w, m) {
  w.inflight = Math.max(0, w.inflight - 1);
  const run = current;
  if (!run || m.run !== run.id || run.cancelled) {
    wake();
    return;
  }
  run.br.apply(new Uint8Array(m.buf));
  collect(run);
  dispatch(run);
  wake();
}

function dispatch(run) {
  if (workers.length === 0) {
    run.br.judgeUnsent();
    collect(run);
    return;
  }
  for (;;) {
    let best = null;
    for (const w of workers) if (w.inflight < PER_WORKER && (!best || w.inflight < best.inflight)) best = w;
    if (!best) return;
    const batch = run.br.takeBatch();
    if (!batch) return;
    best.inflight++;
    best.port.postMessage({ type: 'batch', run: run.id, buf: batch.buffer }, [batch.buffer]);
  }
}

function collect(run) {
  const rows = run.br.takeRows();
  if (rows.length > 2) run.rows.push(rows);
  const report = run.br.takeReport();
  if (report) run.report.push(report);
  post(run, false);
}

function post(run, force) {
  const now = performance.now();
  if (!force && now - run.posted < POST_MS) return;
  run.posted = now;
  const { receipts, invalid } = run.br.counts();
  const elapsed = (now - run.started) / 1000;
  self.postMessage({
    type: 'progress',
    run: run.id,
    rows: run.rows.splice(0),
    receipts,
    invalid,
    read: run.read,
    total: run.total,
    file: run.file,
    rate: elapsed > 0 ? receipts / elapsed : 0,
    elapsed,
  });
}

function isGzip(file, head) {
  return /\.gz$/i.test(file.name) || (head[0] === 0x1f && head[1] === 0x8b);
}

async function start(m) {
  const sets = m.keys.map((k) => KeySet.fromJson(k.bytes, k.pin || undefined, { source: k.source }));
  const run = {
    id: m.run,
    br: new BatchRun(sets, { chains: m.chains }),
    rows: [],
    report: [],
    read: 0,
    total: m.files.reduce((n, f) => n + f.size, 0),
    file: 0,
    started: performance.now(),
    posted: 0,
    cancelled: false,
    reader: null,
  };
  for (const s of sets) s.free();
  current = run;
  for (const w of workers) w.port.postMessage({ type: 'keys', run: run.id, keys: m.keys });

  for (let i = 0; i < m.files.length && !run.cancelled; i++) {
    const file = m.files[i];
    run.file = i;
    run.br.begin(file.name);
    const head = new Uint8Array(await file.slice(0, 2).arrayBuffer());
    let stream = file.stream().pipeThrough(
      new TransformStream({
        transform(chunk, c) {
          run.read += chunk.byteLength;
          c.enqueue(chunk);
        },
      }),
    );
    if (isGzip(file, head)) stream = stream.pipeThrough(new DecompressionStream('gzip'));
    const reader = stream.getReader();
    run.reader = reader;
    try {
      for (;;) {
        // Bounded memory: wait while the workers have enough to do.
        while (!run.cancelled && workers.length > 0) {
          const b = run.br.backlog();
          if (b.unsent + b.waiting <= workers.length * (PER_WORKER + 1)) break;
          await nextEvent();
        }
        if (run.cancelled) break;
        const { value, done } = await reader.read();
        if (done || run.cancelled) break;
        run.br.push(value);
        dispatch(run);
        post(run, false);
      }
      if (!run.cancelled) run.br.end();
    } catch (err) {
      if (!run.cancelled) run.br.inputError(String(err?.message ?? err));
    }
    run.reader = null;
    dispatch(run);
  }
  // Every batch answered (in order) before the chains are checked.
  while (!run.cancelled) {
    dispatch(run);
    const b = run.br.backlog();
    if (b.waiting === 0 && b.unsent === 0 && b.open === 0) break;
    if (workers.length === 0) continue;
    await nextEvent();
  }
  collect(run);
  const fin = run.cancelled ? run.br.stop() : run.br.finish();
  collect(run);
  post(run, true);
  run.br.free();
  const report = new Blob(run.report, { type: 'application/x-ndjson' });
  const elapsed = (performance.now() - run.started) / 1000;
  current = null;
  self.postMessage({ type: 'done', run: run.id, final: fin, cancelled: run.cancelled, report, elapsed });
}
