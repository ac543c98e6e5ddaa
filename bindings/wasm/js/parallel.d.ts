import type { Keys, ErrorLine, ChainLine, SummaryLine } from './index.js';
export { init, initSync, KeySet } from './index.js';

export class BatchRun {
  constructor(keys: Keys, options?: { chains?: boolean });
  begin(source: string): number;
  push(chunk: Uint8Array): void;
  end(): void;
  inputError(message: string): void;
  takeBatch(): Uint8Array | undefined;
  apply(results: Uint8Array): number;
  judgeUnsent(): number;
  backlog(): { waiting: number; unsent: number; open: number };
  counts(): { receipts: number; invalid: number };
  bytesIn(): number;
  takeRows(): string;
  takeReport(): string;
  finish(): { chains: ChainLine[]; errors: ErrorLine[]; summary: SummaryLine; ok: boolean };
  stop(): { chains: ChainLine[]; errors: ErrorLine[]; summary: SummaryLine; ok: boolean };
  free(): void;
}

export class BatchVerifier {
  constructor(keys: Keys);
  verify(packed: Uint8Array): Uint8Array;
  free(): void;
}
