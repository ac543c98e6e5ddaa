// Types of kvitto-wasm. Report lines are exactly the lines of
// `kvitto verify --format json` (schema 1, docs/cli.md).

/** Thrown errors are `Error`s (a `TypeError` for a misuse of the API) carrying a stable code. */
export interface KvittoError extends Error {
  /** The contract's code (`signature_invalid`, `pin_mismatch`, …), or `invalid_argument` / `not_initialized`. */
  code: string;
}

export type Bytes = string | Uint8Array | ArrayBuffer | ArrayBufferView;

export type InitInput =
  | URL
  | string
  | Response
  | Promise<Response>
  | BufferSource
  | WebAssembly.Module;

/** Load the WebAssembly module (Node: from the file beside this one; browsers: fetched from there). */
export function init(source?: InitInput): Promise<void>;
/** Load it synchronously from bytes or a compiled module. */
export function initSync(module: BufferSource | WebAssembly.Module): void;

export interface KeyInfo {
  kid: string;
  status: 'active' | 'retired' | 'revoked';
  notBefore: string;
  /** null: open-ended. */
  notAfter: string | null;
  /** The public key as written in the document. */
  x: string;
}

export class KeySet {
  private constructor();
  /**
   * Read a key document from its bytes (or text). Order of checks: size
   * (`too_large`), the pin over the raw bytes (`pin_mismatch`), the rest
   * (`keys_invalid`). A malformed pin is a TypeError with code `invalid_argument`.
   */
  static fromJson(doc: Bytes, expectedSha256?: string | null, options?: { source?: string }): KeySet;
  readonly workspaceId: string;
  /** `sha256:` + hex of the document's bytes: its pin. */
  readonly sha256: string;
  readonly pinned: boolean;
  readonly source: string;
  readonly keys: KeyInfo[];
  toJSON(): { workspaceId: string; sha256: string; pinned: boolean; source: string; keys: KeyInfo[] };
  free(): void;
}

export type Keys = KeySet | KeySet[];

export interface KeyDocumentInfo {
  workspaceId: string;
  sha256: string;
  source: string;
  pinned: boolean;
}

export interface VerifiedReceipt {
  /** The payload as verified (parsed from its canonical bytes). */
  payload: Record<string, unknown>;
  receiptHash: string;
  kid: string;
  kind: 'authorization.created' | 'check' | 'confirmation.resolved' | 'escalation.resolved' | 'authorization.revoked';
  seq: number;
  prev: string | null;
  receiptId: string;
  workspaceId: string;
  authorizationId: string;
  issuedAt: string;
  /** The key that signed it, with its window. */
  key: KeyInfo;
  keyDocument: KeyDocumentInfo | null;
  /** JCS(payload): the bytes that were signed after `kvitto/receipt/v1` LF. */
  canonical: string;
}

export function verifyReceipt(input: Bytes, keys: Keys): VerifiedReceipt;

export interface Inspection {
  parses: boolean;
  parseError: { code: string; message: string } | null;
  /** JCS(payload) when the receipt parses and has a payload member. */
  canonical: string | null;
  payload: unknown;
  /** SHA-256 of `canonical`, computed whatever the verdict. */
  receiptHash: string | null;
  ok: boolean;
  error: { code: string; message: string } | null;
  verified: VerifiedReceipt | null;
}

export function inspectReceipt(input: Bytes, keys?: Keys): Inspection;

export interface ReceiptLine {
  type: 'receipt';
  source: string;
  line: number;
  index: number | null;
  ok: boolean;
  code: string | null;
  message: string | null;
  receipt_id: string | null;
  authorization_id: string | null;
  receipt_hash: string | null;
}

export interface ChainLine {
  type: 'chain';
  authorization_id: string;
  ok: boolean;
  code: string | null;
  message: string;
  closed: boolean;
  head_seq: number | null;
  head_hash: string | null;
  receipts: number;
  duplicates: number;
}

export interface ErrorLine {
  type: 'error';
  code: string;
  message: string;
  source: string | null;
}

export interface KeyEntry {
  workspace_id: string;
  sha256: string;
  source: string;
  pinned: boolean;
  cache_age_s: number | null;
}

export interface SummaryLine {
  type: 'summary';
  schema: 1;
  receipts: number;
  valid: number;
  invalid: number;
  chains: { total: number; intact: number; broken: number; closed: number; open: number; ungrouped: number };
  complete: boolean;
  keys: KeyEntry[];
}

export interface ExportResult {
  receipts: ReceiptLine[];
  chains: ChainLine[];
  /** `no_receipts` for an input without a receipt; `io_error` for a stream that broke off. */
  errors: ErrorLine[];
  summary: SummaryLine;
  /** At least one receipt, all valid, every chain intact, every input read to its end. */
  ok: boolean;
}

export interface ExportOptions {
  /** Group by authorization and check every chain (`--chains`). */
  chains?: boolean;
  /** The input's name in the report (default `input`). */
  source?: string;
}

export function verifyExport(input: Bytes, keys: Keys, options?: ExportOptions): ExportResult;

export class ExportVerifier {
  constructor(keys: Keys, options?: { chains?: boolean });
  begin(source?: string): this;
  push(chunk: Bytes): ReceiptLine[];
  end(): ReceiptLine[];
  finish(): ExportResult;
  stop(): ExportResult;
  free(): void;
}

export function verifyExportStream(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  keys: Keys,
  options?: ExportOptions & { onReceipt?: (line: ReceiptLine) => void; signal?: AbortSignal },
): Promise<ExportResult>;

export function verifyChain(input: Bytes, keys: Keys, options?: { source?: string }): ChainLine;

export function canonicalize(input: Bytes): string;

export function escapeText(s: string): string;

export function errorCodes(): string[];

export interface FetchKeysOptions {
  expectedSha256?: string;
  /** Allow plain http to 127.0.0.0/8, ::1 and localhost. */
  allowInsecureLocalhost?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  source?: string;
}

export function fetchKeys(url: string | URL, options?: FetchKeysOptions): Promise<KeySet>;

/** As `fetchKeys`, with the document's bytes exactly as fetched (what its pin covers). */
export function fetchKeyDocument(url: string | URL, options?: FetchKeysOptions): Promise<{ bytes: Uint8Array; keys: KeySet }>;
