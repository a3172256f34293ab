import type { ProjectionStatus } from '../read-model-progress';

/** What the API's thread hands the projector thread to start it. */
export interface ProjectorThreadData {
  readonly eventStoreConnectionString: string;
  readonly databaseUrl: string;
}

/** A projection's status as it crosses threads (positions as decimal strings). */
export interface WireStatus {
  readonly name: string;
  readonly version: number;
  readonly rebuilding: boolean;
  readonly caughtUp: boolean;
  readonly checkpoint: { readonly commit: string; readonly prepare: string } | null;
  readonly eventsApplied: number;
}

/** From the projector thread to the API's thread. */
export type ProjectorMessage =
  | { readonly type: 'started' }
  | {
      readonly type: 'progress';
      /** Everything up to this commit position is in every read model (null: nothing yet). */
      readonly committed: string | null;
      readonly caughtUp: boolean;
      readonly status: readonly WireStatus[];
    }
  | { readonly type: 'log'; readonly level: 'log' | 'warn' | 'error'; readonly message: string }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'stopped' };

/** From the API's thread to the projector thread. */
export type ProjectorCommand =
  | { readonly type: 'stop'; readonly commit: boolean }
  /** A reader on the API's thread waits for this commit position (decimal). */
  | { readonly type: 'want'; readonly commit: string };

export function toWire(status: readonly ProjectionStatus[]): WireStatus[] {
  return status.map((s) => ({
    ...s,
    checkpoint: s.checkpoint && {
      commit: s.checkpoint.commit.toString(),
      prepare: s.checkpoint.prepare.toString(),
    },
  }));
}

export function fromWire(status: readonly WireStatus[]): ProjectionStatus[] {
  return status.map((s) => ({
    ...s,
    checkpoint: s.checkpoint && {
      commit: BigInt(s.checkpoint.commit),
      prepare: BigInt(s.checkpoint.prepare),
    },
  }));
}
