import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import {
  ANY,
  StreamNotFoundError,
  jsonEvent,
  type EventStoreDBClient,
  type JSONEventData,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { collect } from '../support/event-store';

/** A small seeded generator, so a failing run can be replayed with CRASH_SEED. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CrashPayload {
  readonly [key: string]: unknown;
  readonly writer: number;
  readonly seq: number;
  readonly filler: string;
}

/** One append as sent; `revisions` is set only once the server acknowledged it. */
export interface Attempt {
  readonly stream: string;
  readonly events: readonly JSONEventData[];
  revisions?: bigint[];
}

/**
 * Every append the writers ever tried, acknowledged or not, across all kill/restart cycles. It is
 * the ground truth the recovered log is checked against.
 */
export class AppendLedger {
  readonly attempts: Attempt[] = [];
  private readonly byEventId = new Map<string, { attempt: Attempt; index: number }>();

  record(attempt: Attempt): void {
    this.attempts.push(attempt);
    attempt.events.forEach((event, index) => this.byEventId.set(event.id, { attempt, index }));
  }

  lookup(eventId: string): { attempt: Attempt; index: number } | undefined {
    return this.byEventId.get(eventId);
  }

  acknowledgedCount(): number {
    return this.attempts.filter((a) => a.revisions).reduce((n, a) => n + a.events.length, 0);
  }
}

export interface WriterRun {
  /** Stops writers from starting new appends; those in flight finish or fail on their own. */
  stop(): void;
  /** Settles once every writer has stopped, whatever happened to its last append. */
  readonly done: Promise<void>;
}

/**
 * Writers appending small batches to a handful of streams with expected revision ANY until told to
 * stop or until an append fails (the server was killed). Odd writers pass per-call credentials so
 * both of the client's append paths are in the crash.
 */
export function startWriters(opts: {
  client: EventStoreDBClient;
  ledger: AppendLedger;
  streams: readonly string[];
  writers: number;
  random: () => number;
  cycle: number;
}): WriterRun {
  let stopped = false;
  const { client, ledger, streams, random } = opts;
  const runs = Array.from({ length: opts.writers }, async (_, writer) => {
    const pathOptions = writer % 2 === 1 ? { credentials: { username: 'admin', password: 'changeit' } } : {};
    for (let seq = 0; !stopped; seq++) {
      const stream = streams[Math.floor(random() * streams.length)];
      const size = 1 + Math.floor(random() * 4);
      const events = Array.from({ length: size }, (_e, i) =>
        jsonEvent({
          id: randomUUID(),
          type: `CrashTested${i % 2 === 0 ? 'Even' : 'Odd'}`,
          data: {
            writer,
            seq: opts.cycle * 1_000_000 + seq,
            filler: 'x'.repeat(Math.floor(random() * 4_000)),
          } satisfies CrashPayload,
        }),
      );
      const attempt: Attempt = { stream, events };
      ledger.record(attempt);
      try {
        const result = await client.appendToStream(stream, events, { expectedRevision: ANY, ...pathOptions });
        const last = result.nextExpectedRevision;
        attempt.revisions = events.map((_e, i) => last - BigInt(events.length - 1 - i));
      } catch {
        return;
      }
    }
  });
  return {
    stop: () => {
      stopped = true;
    },
    done: Promise.allSettled(runs).then(() => undefined),
  };
}

async function readWholeStream(client: EventStoreDBClient, stream: string): Promise<ResolvedEvent[]> {
  try {
    return await collect(client.readStream(stream));
  } catch (error) {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  }
}

export interface RecoveredLog {
  /** Event id → commit position, to check positions survive later restarts unchanged. */
  readonly positions: Map<string, bigint>;
  readonly eventCount: number;
}

/**
 * Checks what a restarted server holds against the ledger. Returns a list of violations rather
 * than throwing at the first, so one failing run shows the whole damage.
 */
export async function verifyRecoveredLog(
  client: EventStoreDBClient,
  ledger: AppendLedger,
  streams: readonly string[],
  previousPositions: ReadonlyMap<string, bigint>,
): Promise<{ violations: string[]; recovered: RecoveredLog }> {
  const violations: string[] = [];
  const present = new Set<string>();

  for (const stream of streams) {
    const events = await readWholeStream(client, stream);
    events.forEach(({ event }, i) => {
      const recorded = event!;
      if (recorded.revision !== BigInt(i)) {
        violations.push(
          `${stream}: revision ${recorded.revision} at index ${i}, revisions not contiguous from 0`,
        );
      }
      present.add(recorded.id);
      const origin = ledger.lookup(recorded.id);
      if (!origin) {
        violations.push(`${stream}@${recorded.revision}: event ${recorded.id} was never appended`);
        return;
      }
      const sent = origin.attempt.events[origin.index];
      if (origin.attempt.stream !== stream) {
        violations.push(
          `${stream}@${recorded.revision}: event ${recorded.id} belongs to ${origin.attempt.stream}`,
        );
      }
      if (recorded.type !== sent.type || !isDeepStrictEqual(recorded.data, sent.data)) {
        violations.push(`${stream}@${recorded.revision}: event ${recorded.id} came back altered`);
      }
      const ackedRevision = origin.attempt.revisions?.[origin.index];
      if (ackedRevision !== undefined && ackedRevision !== recorded.revision) {
        violations.push(
          `${stream}: event ${recorded.id} acknowledged at revision ${ackedRevision}, found at ${recorded.revision}`,
        );
      }
    });
  }

  for (const attempt of ledger.attempts) {
    const found = attempt.events.filter((e) => present.has(e.id)).length;
    if (attempt.revisions && found !== attempt.events.length) {
      violations.push(
        `${attempt.stream}: acknowledged append of ${attempt.events.length} events (revisions ${attempt.revisions.join(',')}) has ${found} after restart`,
      );
    } else if (!attempt.revisions && found !== 0 && found !== attempt.events.length) {
      violations.push(
        `${attempt.stream}: unacknowledged append of ${attempt.events.length} events is torn, ${found} survived`,
      );
    }
  }

  const all = await collect(client.readAll());
  const positions = new Map<string, bigint>();
  let previousCommit: bigint | undefined;
  for (const { event } of all) {
    const commit = event!.position.commit;
    if (previousCommit !== undefined && commit <= previousCommit) {
      violations.push(`$all: commit position ${commit} follows ${previousCommit}`);
    }
    previousCommit = commit;
    positions.set(event!.id, commit);
    const before = previousPositions.get(event!.id);
    if (before !== undefined && before !== commit) {
      violations.push(`$all: event ${event!.id} moved from position ${before} to ${commit} across a restart`);
    }
  }
  for (const id of present) {
    if (!positions.has(id)) violations.push(`$all: event ${id} is in its stream but missing from $all`);
  }
  for (const id of previousPositions.keys()) {
    if (!positions.has(id)) violations.push(`$all: event ${id}, recovered by an earlier restart, is gone`);
  }

  return { violations, recovered: { positions, eventCount: present.size } };
}
