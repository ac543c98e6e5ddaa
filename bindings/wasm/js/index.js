// kvitto-wasm: verify kvitto receipts in browsers and Node with kvitto-core
// compiled to WebAssembly. This file converts arguments and results; every
// verdict, error code, framing decision and chain result is kvitto-core's,
// every report line one of kvitto-report's serde types (docs/cli.md, schema 1).
import wasmInit, * as raw from './kvitto_wasm.js';

const MAX_KEYS_BYTES = 1 << 20;
const encoder = new TextEncoder();
let ready = false;
let pending = null;

const isNode = () =>
  typeof process === 'object' && process !== null && typeof process.versions?.node === 'string';

/**
 * Load the WebAssembly module. In Node, without an argument, it reads
 * `kvitto_wasm_bg.wasm` beside this file; in a browser it fetches it from
 * there (same origin). `source` may be a URL, a Response, bytes or a
 * compiled `WebAssembly.Module` (workers receive the page's module this way).
 */
export async function init(source) {
  if (ready) return;
  if (!pending) {
    pending = (async () => {
      let input = source;
      if (input === undefined && isNode()) {
        const { readFile } = await import('node:fs/promises');
        input = await readFile(new URL('./kvitto_wasm_bg.wasm', import.meta.url));
      }
      await wasmInit(input === undefined ? undefined : { module_or_path: input });
      ready = true;
    })();
    pending.catch(() => {
      pending = null;
    });
  }
  return pending;
}

/** Load the module synchronously from bytes or a compiled `WebAssembly.Module`. */
export function initSync(module) {
  if (ready) return;
  raw.initSync({ module });
  ready = true;
}

function coded(error, code) {
  error.code = code;
  return error;
}

function need() {
  if (!ready) {
    throw coded(new Error('kvitto-wasm is not initialized: await init() first'), 'not_initialized');
  }
}

function invalid(message) {
  return coded(new TypeError(message), 'invalid_argument');
}

/** Bytes of `input`: a string (as UTF-8), a Uint8Array, an ArrayBuffer or a view. */
function bytes(input, what = 'input') {
  if (typeof input === 'string') return encoder.encode(input);
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw invalid(`${what} must be a string, a Uint8Array or an ArrayBuffer`);
}

const token = Symbol('kvitto.KeySet');

/** A key document, read and checked by kvitto-core (size, then the pin over the raw bytes, then the rest). */
export class KeySet {
  #raw;
  #keys;

  constructor(secret, rawSet) {
    if (secret !== token) throw invalid('use KeySet.fromJson() or fetchKeys()');
    this.#raw = rawSet;
  }

  /**
   * Read a key document. `doc`: its bytes exactly as read (a Uint8Array) or
   * its text; `expectedSha256`: an optional pin, `sha256:` + 64 hex digits.
   */
  static fromJson(doc, expectedSha256, options = {}) {
    need();
    if (expectedSha256 !== undefined && expectedSha256 !== null && typeof expectedSha256 !== 'string') {
      throw invalid('expectedSha256 must be a string such as "sha256:…"');
    }
    const source = options.source === undefined ? undefined : String(options.source);
    const pin = expectedSha256 === null || expectedSha256 === '' ? undefined : expectedSha256;
    return new KeySet(token, raw.KeySet.fromBytes(bytes(doc, 'doc'), pin, source));
  }

  get workspaceId() {
    return this.#raw.workspaceId;
  }

  /** `sha256:…` of the document's bytes: what a pin names. */
  get sha256() {
    return this.#raw.sha256;
  }

  /** It was read with a pin (and matched it). */
  get pinned() {
    return this.#raw.pinned;
  }

  /** Where it came from, as reports name it. */
  get source() {
    return this.#raw.source;
  }

  /** The Ed25519 keys in document order: `{kid, status, notBefore, notAfter, x}`. */
  get keys() {
    this.#keys ??= JSON.parse(this.#raw.keysJson());
    return this.#keys.map((k) => ({ ...k }));
  }

  toJSON() {
    return {
      workspaceId: this.workspaceId,
      sha256: this.sha256,
      pinned: this.pinned,
      source: this.source,
      keys: this.keys,
    };
  }

  /** Release the WebAssembly memory now (otherwise the garbage collector does). */
  free() {
    this.#raw?.free();
    this.#raw = undefined;
  }

  static _raw(k) {
    return k.#raw;
  }
}

/** A kvitto-core key list of one or more KeySets (one per workspace). */
function keyList(keys) {
  need();
  const all = Array.isArray(keys) ? keys : [keys];
  const list = new raw.KeyList();
  try {
    for (const k of all) {
      if (!(k instanceof KeySet)) throw invalid('keys must be a KeySet or an array of KeySets');
      const r = KeySet._raw(k);
      if (!r) throw invalid('this KeySet was freed');
      list.add(r);
    }
  } catch (e) {
    list.free();
    throw e;
  }
  return list;
}

/** @internal For `kvitto-wasm/parallel`: the key list of `keys` (the caller frees it). */
export function _keyList(keys) {
  return keyList(keys);
}

function withKeys(keys, f) {
  const list = keyList(keys);
  try {
    return f(list);
  } finally {
    list.free();
  }
}

function verifiedOut(v) {
  const { canonical, ...rest } = v;
  return { payload: JSON.parse(canonical), ...rest, canonical };
}

/**
 * Verify one receipt (its text or bytes; contract section 7) against the key
 * document of its workspace. Returns `{payload, receiptHash, kid, kind, seq,
 * prev, receiptId, workspaceId, authorizationId, issuedAt, key, keyDocument,
 * canonical}`; throws an Error whose `code` is the contract's code.
 */
export function verifyReceipt(input, keys) {
  return withKeys(keys, (list) => verifiedOut(JSON.parse(raw.verifyReceipt(bytes(input), list))));
}

/**
 * One receipt for people, as `kvitto inspect` shows it: whether it parses
 * strictly, JCS(payload) and its hash (computed even for an invalid
 * receipt), and the verdict. Never throws for a bad receipt.
 */
export function inspectReceipt(input, keys = []) {
  return withKeys(keys, (list) => {
    const r = JSON.parse(raw.inspectReceipt(bytes(input), list));
    return {
      ...r,
      payload: r.canonical === null ? null : JSON.parse(r.canonical),
      verified: r.verified === null ? null : verifiedOut(r.verified),
    };
  });
}

const parseLines = (s) => (s.length === 2 ? [] : JSON.parse(s));

/**
 * A streaming export verification: push an export's bytes in pieces of any
 * size (a 1 GB file is never one string) and get each receipt's report line
 * as soon as it is framed and judged.
 */
export class ExportVerifier {
  #run;

  constructor(keys, options = {}) {
    this.#run = withKeys(keys, (list) => new raw.ExportRun(list, Boolean(options.chains), false, false));
  }

  #live() {
    if (!this.#run) throw invalid('this ExportVerifier is finished');
    return this.#run;
  }

  /** Start the next input (`source` names it in the report); ends the one before. */
  begin(source = 'input') {
    this.#live().begin(String(source));
    return this;
  }

  /** The next piece of the current input; returns the receipt lines it completed. */
  push(chunk) {
    const run = this.#live();
    run.push(bytes(chunk, 'chunk'));
    return parseLines(run.takeLines());
  }

  /** The current input ended; returns its last receipt lines. */
  end() {
    const run = this.#live();
    run.end();
    return parseLines(run.takeLines());
  }

  /** Every input ended: `{receipts (the last lines), chains, errors, summary, ok}`. */
  finish() {
    const run = this.#live();
    const fin = JSON.parse(run.finish());
    const receipts = parseLines(run.takeLines());
    this.free();
    return { receipts, ...fin };
  }

  /** Stop early: the summary says `complete: false`, and chains are not checked. */
  stop() {
    const run = this.#live();
    const fin = JSON.parse(run.stop());
    this.free();
    return { receipts: [], ...fin };
  }

  free() {
    this.#run?.free();
    this.#run = undefined;
  }
}

/**
 * Verify a whole export (one receipt, a JSON array, or JSON Lines; framed
 * by the contract's section 9) held in memory. Returns `{receipts, chains,
 * errors, summary, ok}`: the lines `kvitto verify --format json` prints.
 */
export function verifyExport(input, keys, options = {}) {
  const v = new ExportVerifier(keys, options);
  try {
    v.begin(options.source ?? 'input');
    const receipts = v.push(input);
    const fin = v.finish();
    return { ...fin, receipts: receipts.concat(fin.receipts) };
  } finally {
    v.free();
  }
}

async function* chunksOf(stream) {
  if (stream && typeof stream.getReader === 'function') {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  } else if (stream && typeof stream[Symbol.asyncIterator] === 'function') {
    yield* stream;
  } else if (stream && typeof stream[Symbol.iterator] === 'function' && typeof stream !== 'string') {
    yield* stream;
  } else {
    throw invalid('stream must be a ReadableStream or an (async) iterable of Uint8Array chunks');
  }
}

/**
 * Verify an export that arrives as a stream (a `ReadableStream`, a Node
 * stream, or any async iterable of chunks). `onReceipt(line)` hears each
 * receipt line as it is judged; without it the lines are collected in the
 * result. `signal` (an AbortSignal) stops reading: the promise rejects with
 * its reason.
 */
export async function verifyExportStream(stream, keys, options = {}) {
  const v = new ExportVerifier(keys, options);
  const collected = [];
  const take = options.onReceipt ?? ((line) => collected.push(line));
  try {
    v.begin(options.source ?? 'input');
    for await (const chunk of chunksOf(stream)) {
      options.signal?.throwIfAborted();
      for (const line of v.push(chunk)) take(line);
    }
    options.signal?.throwIfAborted();
    const fin = v.finish();
    for (const line of fin.receipts) take(line);
    return { ...fin, receipts: collected };
  } finally {
    v.free();
  }
}

/**
 * Check every receipt of `input` (framed by section 9) as one explicit chain
 * (section 8, chain_mixed included). Returns the report's `chain` line.
 */
export function verifyChain(input, keys, options = {}) {
  return withKeys(keys, (list) =>
    JSON.parse(raw.verifyChain(bytes(input), list, options.source === undefined ? undefined : String(options.source))),
  );
}

/** RFC 8785 canonical text of any JSON value (the whole binary64 range); throws with `.code`. */
export function canonicalize(input) {
  need();
  return raw.canonicalize(bytes(input));
}

/** `s` with control, bidi and line-separator characters written as `\u{..}`. */
export function escapeText(s) {
  need();
  return raw.escapeText(String(s));
}

/** Every error code of the contract, in its order. */
export function errorCodes() {
  need();
  return JSON.parse(raw.errorCodes());
}

function isLoopback(hostname) {
  const h = hostname.toLowerCase();
  return h === 'localhost' || h === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function allowedUrl(u, allowInsecureLocalhost) {
  if (u.protocol === 'https:') return true;
  return u.protocol === 'http:' && allowInsecureLocalhost && isLoopback(u.hostname);
}

/**
 * Fetch a key document with `fetch()` and read it with its pin: HTTPS only
 * (plain http only to a loopback host, and only with
 * `allowInsecureLocalhost`), no redirect to a non-HTTPS URL, a timeout
 * (`timeoutMs`, default 10 s) and a 1 MiB cap while streaming; the pin is
 * checked in WebAssembly on the bytes as fetched, before they are parsed.
 * Failures throw with `code` `keys_fetch_failed`, `too_large`,
 * `pin_mismatch` or `keys_invalid`.
 */
export async function fetchKeys(url, options = {}) {
  return (await fetchKeyDocument(url, options)).keys;
}

/**
 * As `fetchKeys`, and also the document's bytes exactly as fetched (what
 * its pin covers): `{bytes, keys}`.
 */
export async function fetchKeyDocument(url, options = {}) {
  need();
  const fail = (reason) => raw.fetchError(reason);
  let u;
  try {
    u = new URL(String(url));
  } catch {
    throw fail(`not a URL: ${String(url)}`);
  }
  const insecure = Boolean(options.allowInsecureLocalhost);
  if (!allowedUrl(u, insecure)) {
    throw fail(
      u.protocol === 'http:'
        ? `${u.href}: plain http is refused (HTTPS only; http only to a loopback host with allowInsecureLocalhost)`
        : `${u.href}: only https URLs are fetched`,
    );
  }
  const timeoutMs = options.timeoutMs ?? 10_000;
  const doFetch = options.fetch ?? globalThis.fetch;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  let body;
  try {
    const res = await doFetch(u.href, {
      signal,
      redirect: 'follow',
      credentials: 'omit',
      cache: 'no-store',
      headers: { accept: 'application/json' },
    });
    if (res.url && !allowedUrl(new URL(res.url), insecure)) {
      throw fail(`${u.href}: redirected to ${res.url}, which is not HTTPS`);
    }
    if (!res.ok) throw fail(`${u.href}: HTTP ${res.status}`);
    body = await readCapped(res, MAX_KEYS_BYTES + 1);
  } catch (e) {
    if (typeof e?.code === 'string') throw e;
    if (timeout.aborted) throw fail(`${u.href}: timed out after ${timeoutMs} ms`);
    throw fail(`${u.href}: ${e?.message ?? e}`);
  }
  // Size, then the pin, then the document: in kvitto-core.
  const keys = KeySet.fromJson(body, options.expectedSha256, { source: options.source ?? u.href });
  return { bytes: body, keys };
}

async function readCapped(res, cap) {
  if (!res.body) return new Uint8Array(await res.arrayBuffer()).slice(0, cap);
  const reader = res.body.getReader();
  const parts = [];
  let n = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(value);
    n += value.byteLength;
    if (n >= cap) {
      await reader.cancel();
      break;
    }
  }
  const out = new Uint8Array(Math.min(n, cap));
  let at = 0;
  for (const p of parts) {
    const take = Math.min(p.byteLength, out.length - at);
    out.set(p.subarray(0, take), at);
    at += take;
    if (at === out.length) break;
  }
  return out;
}
