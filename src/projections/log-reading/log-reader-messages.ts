import type { LogChunk } from './log-chunks';

/** What the folding thread hands the reader thread to start it. */
export interface ReaderThreadData {
  readonly connectionString: string;
  /** Read after this position (decimal strings); null: from the start of the log. */
  readonly from: { readonly commit: string; readonly prepare: string } | null;
  /** Chunks the reader may have handed over and not yet seen taken. */
  readonly ahead: number;
}

/** From the folding thread: how many chunks it has taken so far, or that it wants no more. */
export type ReaderCommand = { readonly type: 'taken'; readonly count: number } | { readonly type: 'stop' };

/** From the reader thread (a chunk's positions and envelopes cross as they are: BigInts clone). */
export type ReaderMessage =
  | { readonly type: 'chunk'; readonly chunk: LogChunk }
  | { readonly type: 'done' }
  | { readonly type: 'failed'; readonly message: string };
