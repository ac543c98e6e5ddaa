// A verify worker: judges batches of receipt texts with kvitto-core
// (verify_receipt_in on each, exactly as a single-threaded run would) and
// answers the coordinating worker with the packed verdicts.
import { init, KeySet, BatchVerifier } from './kvitto/parallel.js';

let port = null;
let verifier = null;
let run = -1;

self.onmessage = async (e) => {
  const m = e.data;
  if (m.type !== 'init') return;
  try {
    await init(m.module);
    port = m.port;
    port.onmessage = (ev) => onPort(ev.data);
    self.postMessage({ type: 'ready' });
  } catch (err) {
    self.postMessage({ type: 'fatal', message: String(err?.message ?? err) });
  }
};

function onPort(m) {
  if (m.type === 'keys') {
    verifier?.free();
    const sets = m.keys.map((k) => KeySet.fromJson(k.bytes, k.pin || undefined, { source: k.source }));
    verifier = new BatchVerifier(sets);
    for (const s of sets) s.free();
    run = m.run;
  } else if (m.type === 'batch') {
    // A batch of a run that has been replaced is answered empty (ignored).
    // One that cannot be judged here is answered empty too: the coordinator
    // then judges every record of it itself (and reports what fails there).
    let out = new Uint8Array(0);
    try {
      if (m.run === run && verifier) out = verifier.verify(new Uint8Array(m.buf));
    } catch (err) {
      console.warn('kvitto verify worker:', err);
      out = new Uint8Array(new Uint32Array([new DataView(m.buf).getUint32(0, true)]).buffer);
    }
    port.postMessage({ type: 'result', run: m.run, buf: out.buffer }, [out.buffer]);
  }
}
