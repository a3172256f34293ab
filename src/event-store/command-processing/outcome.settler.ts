import { EventStoreUnavailableError } from './command-processing.errors';
import type { EventMetadata } from './decider';

/** What a caller gets once the store has acknowledged the command (or it needed no event). */
export interface CommandOutcome<Result> {
  readonly result: Result;
  readonly streamName: string;
  /**
   * Revision of the command's last event, or of the state it was decided on when it produced none
   * (-1n: the stream does not exist yet).
   */
  readonly streamRevision: bigint;
  /**
   * Commit position of the append that carried the command's events (for a command without events: of
   * its batch's append, else of the last event known in the stream). A read model that has processed
   * this position reflects the command: the read-your-writes token.
   */
  readonly commitPosition: bigint | undefined;
  readonly eventCount: number;
}

/** A command queued on its stream, with the caller's promise still open. */
export interface PendingCommand<Command, Result> {
  readonly command: Command;
  readonly metadata: EventMetadata | undefined;
  readonly resolve: (outcome: CommandOutcome<Result>) => void;
  readonly reject: (error: unknown) => void;
}

/** How a command was decided: refused with the decider's error, or accepted with its result. */
export type Verdict<Command, Result> =
  | { readonly pending: PendingCommand<Command, Result>; readonly ok: false; readonly error: unknown }
  | {
      readonly pending: PendingCommand<Command, Result>;
      readonly ok: true;
      readonly result: Result;
      /** Revision of the command's last event, or of the state it was decided on. */
      readonly revision: bigint;
      readonly eventCount: number;
    };

/** Answers each caller with its verdict; `commitPosition` is the read-your-writes token they share. */
export function settle<Command, Result>(
  streamName: string,
  verdicts: readonly Verdict<Command, Result>[],
  commitPosition: bigint | undefined,
): void {
  for (const verdict of verdicts) {
    if (!verdict.ok) {
      verdict.pending.reject(verdict.error);
      continue;
    }
    verdict.pending.resolve({
      result: verdict.result,
      streamName,
      streamRevision: verdict.revision,
      commitPosition,
      eventCount: verdict.eventCount,
    });
  }
}

export function rejectAll<Command, Result>(
  pending: readonly PendingCommand<Command, Result>[],
  error: unknown,
): void {
  for (const command of pending) command.reject(error);
}

/** The store did not confirm: the outcome is unknown to the caller (HTTP 503). */
export function unavailable(streamName: string, what: string, cause: unknown): EventStoreUnavailableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new EventStoreUnavailableError(streamName, `${what} (${streamName}): ${reason}`, { cause });
}
