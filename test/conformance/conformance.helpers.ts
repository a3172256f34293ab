import { randomUUID } from 'node:crypto';
import {
  jsonEvent,
  type AppendToStreamOptions,
  type EventStoreDBClient,
  type JSONEventData,
  type Position,
  type ReadableSubscription,
} from '@eventstore/db-client';
import { StreamsService } from '@eventstore/db-client/generated/streams_grpc_pb';

export interface TestEventData {
  readonly [key: string]: unknown;
  readonly index: number;
  readonly tag: string;
}

/** `count` distinct JSON events whose data says where they came from, so a misplaced event is visible. */
export function testEvents(count: number, tag = 'e', type = 'ConformanceTested'): JSONEventData[] {
  return Array.from({ length: count }, (_, index) =>
    jsonEvent({ id: randomUUID(), type, data: { index, tag } satisfies TestEventData }),
  );
}

/**
 * The client picks its append path per call: BatchAppend once ServerFeatures lists it, the older
 * unary-style Streams.Append whenever the call carries its own credentials. Insecure channels drop the
 * credentials themselves, so these are only a switch, and the default admin ones in case the real
 * server under test is secure.
 */
export const APPEND_PATHS: ReadonlyArray<readonly [string, Pick<AppendToStreamOptions, 'credentials'>]> = [
  ['BatchAppend', {}],
  ['Streams.Append', { credentials: { username: 'admin', password: 'changeit' } }],
];

/** Whether the client decided the server supports BatchAppend (its own ServerFeatures probe). */
export async function clientUsesBatchAppend(client: EventStoreDBClient): Promise<boolean> {
  const probe = client as unknown as { supports(method: unknown): Promise<boolean> };
  return probe.supports(StreamsService.batchAppend);
}

/** Awaits a rejection and checks its class, returning the typed error for field assertions. */
export async function expectRejection<E extends Error>(
  promise: Promise<unknown>,
  errorClass: abstract new (...args: never[]) => E,
): Promise<E> {
  let outcome: unknown;
  try {
    outcome = await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(errorClass);
    return error as E;
  }
  throw new Error(`expected ${errorClass.name}, but the call succeeded with ${stringify(outcome)}`);
}

export function comparePositions(a: Position, b: Position): number {
  if (a.commit !== b.commit) return a.commit < b.commit ? -1 : 1;
  if (a.prepare !== b.prepare) return a.prepare < b.prepare ? -1 : 1;
  return 0;
}

/** Fails with the first offending pair, which is far easier to debug than a whole-array diff. */
export function expectStrictlyIncreasing(values: readonly bigint[], what: string): void {
  for (let i = 1; i < values.length; i++) {
    if (values[i] <= values[i - 1]) {
      throw new Error(`${what} not strictly increasing at index ${i}: ${values[i - 1]} then ${values[i]}`);
    }
  }
}

export function stringify(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v));
}

/**
 * Gathers what a subscription delivers until `done` says enough; call `recheck()` when something
 * outside the subscription changed what `done` looks at. It never times out by itself: a
 * subscription that stops short leaves the test to fail on jest's timeout.
 */
export function receiveUntil<T>(
  subscription: ReadableSubscription<T>,
  done: (received: readonly T[]) => boolean,
): { received: T[]; finished: Promise<T[]>; recheck(): void } {
  const received: T[] = [];
  let settled = false;
  let settle: () => void = () => undefined;
  const finished = new Promise<T[]>((resolve, reject) => {
    settle = () => {
      if (!settled && done(received)) {
        settled = true;
        resolve(received);
      }
    };
    subscription.on('data', (item) => {
      received.push(item);
      settle();
    });
    subscription.on('error', (err) => {
      if (!settled) reject(err);
    });
    subscription.on('end', () => {
      if (!settled) reject(new Error(`subscription ended after ${received.length} items`));
    });
  });
  return { received, finished, recheck: () => settle() };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
