import { SubledgerError } from '../../kernel/subledger-error';

/**
 * The stream kept moving under us: every retry of the batch met another writer's events. Nothing of
 * the command was recorded; the caller may send it again.
 */
export class ConcurrencyConflictError extends SubledgerError {
  readonly retryable = true;

  constructor(
    readonly streamName: string,
    readonly attempts: number,
  ) {
    super(
      'concurrency_conflict',
      'conflict',
      `stream ${streamName} changed concurrently on each of ${attempts} attempts; nothing was recorded`,
    );
    this.name = 'ConcurrencyConflictError';
  }
}

/**
 * The event store did not confirm the command: it was unreachable, timed out, or failed otherwise.
 * The events may or may not have been written, so the caller must treat the outcome as unknown
 * (HTTP 503) and retry with the same idempotency key where the command has one.
 */
export class EventStoreUnavailableError extends SubledgerError {
  readonly retryable = true;

  constructor(
    readonly streamName: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('event_store_unavailable', 'unavailable', message, {}, options);
    this.name = 'EventStoreUnavailableError';
  }
}

/**
 * The store refused the append for its size (EventStoreDB's MaxAppendSize): it is up, nothing was
 * written, and sending the same command again meets the same refusal, so this is not "unavailable".
 */
export class AppendTooLargeError extends SubledgerError {
  constructor(
    readonly streamName: string,
    readonly maxAppendSize: number,
    readonly events: number,
    options?: { cause?: unknown },
  ) {
    super(
      'append_too_large',
      'unprocessable',
      `the ${events} events this request would record in ${streamName} are more than the event store takes in one append (${maxAppendSize} bytes); nothing was recorded`,
      { maxAppendSize },
      options,
    );
    this.name = 'AppendTooLargeError';
  }
}
