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
