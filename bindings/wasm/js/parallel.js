// kvitto-wasm/parallel: the pieces of a parallel verification, for a page
// that verifies in Web Workers (web/ uses them). One coordinating worker
// frames the input with one kvitto-core Framer and holds the one Session
// (BatchRun); verify workers judge batches of receipt texts
// (BatchVerifier) and answer with the core's verdicts in a compact binary
// form. The coordinator judges again itself every receipt a worker did not
// find valid, so every error it reports is kvitto-core's own, and it
// reports in input order whatever order the answers come in.
import * as raw from './kvitto_wasm.js';
import { _keyList } from './index.js';

export { init, initSync, KeySet } from './index.js';

export class BatchRun {
  #run;

  /** `keys`: a KeySet or an array of them; `chains`: check every authorization's chain. */
  constructor(keys, options = {}) {
    const list = _keyList(keys);
    try {
      this.#run = new raw.ExportRun(list, Boolean(options.chains), true, true);
    } finally {
      list.free();
    }
  }

  /** Start the next input; returns its index. */
  begin(source) {
    return this.#run.begin(String(source));
  }

  push(chunk) {
    this.#run.push(chunk);
  }

  end() {
    this.#run.end();
  }

  /** The current input broke off here (a read or gzip error): an `io_error` line in its place. */
  inputError(message) {
    this.#run.inputError(String(message));
  }

  /** The next packed batch for a verify worker (a Uint8Array), or undefined. */
  takeBatch() {
    return this.#run.takeBatch();
  }

  /** A verify worker's answer; returns how many receipts it let the run report. */
  apply(results) {
    return this.#run.apply(results);
  }

  /** Judge here every batch not handed out yet. */
  judgeUnsent() {
    return this.#run.judgeUnsent();
  }

  /** `{waiting, unsent, open}`: batches handed out, sealed not handed out, records not sealed. */
  backlog() {
    const [waiting, unsent, open] = this.#run.backlog();
    return { waiting, unsent, open };
  }

  /** `{receipts, invalid}` reported so far. */
  counts() {
    const [receipts, invalid] = this.#run.counts();
    return { receipts, invalid };
  }

  /** Bytes pushed into the current input. */
  bytesIn() {
    return this.#run.bytesIn();
  }

  /** The rows reported since the last call, as JSON text (an array). */
  takeRows() {
    return this.#run.takeLines();
  }

  /** The report's lines since the last call, as JSON Lines text. */
  takeReport() {
    return this.#run.takeReport();
  }

  /** Chains and summary: `{chains, errors, summary, ok}`. */
  finish() {
    return JSON.parse(this.#run.finish());
  }

  /** Stop early: `complete: false`, chains not checked. */
  stop() {
    return JSON.parse(this.#run.stop());
  }

  free() {
    this.#run?.free();
    this.#run = undefined;
  }
}

export class BatchVerifier {
  #list;

  constructor(keys) {
    this.#list = _keyList(keys);
  }

  /** Judge a packed batch from `BatchRun.takeBatch()`; returns the packed answer for `BatchRun.apply()`. */
  verify(packed) {
    return raw.verifyBatch(packed, this.#list);
  }

  free() {
    this.#list?.free();
    this.#list = undefined;
  }
}
