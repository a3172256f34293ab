import {
  BACKWARDS,
  END,
  StreamNotFoundError,
  jsonEvent,
  type EventStoreDBClient,
  type JSONType,
  type ResolvedEvent,
} from '@eventstore/db-client';
import { randomUUID } from 'node:crypto';

export const SNAPSHOT_EVENT_TYPE = 'StreamSnapshotted';
export const JOURNAL_EVENT_TYPE = 'StreamJournalEntry';

/** A folded state of a stream as of `revision`, so a load only reads the events after it. */
export interface StreamSnapshot {
  readonly revision: bigint;
  readonly commitPosition: bigint | undefined;
  readonly version: number;
  readonly state: unknown;
  /**
   * For a decider with a snapshot journal: the journal holds what the state gained through this
   * revision (always `revision` when written by the processor). Absent: the snapshot is the whole state.
   */
  readonly journalThrough?: bigint;
}

/** What the snapshot event carries; 64-bit numbers as decimal strings since JSON has no bigint. */
interface SnapshotEventData {
  readonly [key: string]: JSONType | string | number | null | undefined;
  readonly snapshotOf: string;
  readonly revision: string;
  readonly commitPosition: string | null;
  readonly version: number;
  readonly state: JSONType;
  readonly journalThrough?: string;
}

/**
 * `ledger-p1` → `ledgersnapshot-p1`: still `category-id`, so `$ce-ledger` never sees snapshots while
 * `$ce-ledgersnapshot` can list them. Streams without a dash get the suffix on the whole name.
 */
export function defaultSnapshotStreamName(streamName: string): string {
  const dash = streamName.indexOf('-');
  if (dash < 0) return `${streamName}snapshot`;
  return `${streamName.slice(0, dash)}snapshot${streamName.slice(dash)}`;
}

/** `ledger-p1` with journal `keys` → `ledgerkeys-p1`, the same way as the snapshot stream's name. */
export function defaultJournalStreamName(streamName: string, journal: string): string {
  const dash = streamName.indexOf('-');
  if (dash < 0) return `${streamName}${journal}`;
  return `${streamName.slice(0, dash)}${journal}${streamName.slice(dash)}`;
}

/** Snapshots live in their own stream capped at one event, so only the newest is kept. */
export class SnapshotStore {
  constructor(
    private readonly client: EventStoreDBClient,
    private readonly streamNameOf: (streamName: string) => string = defaultSnapshotStreamName,
  ) {}

  async read(streamName: string): Promise<StreamSnapshot | undefined> {
    let newest: ResolvedEvent | undefined;
    try {
      // Drained rather than left early: a read abandoned mid-way keeps the client from disposing.
      for await (const resolved of this.client.readStream(this.streamNameOf(streamName), {
        direction: BACKWARDS,
        fromRevision: END,
        maxCount: 1,
      })) {
        newest = resolved;
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return undefined;
      throw error;
    }
    if (newest?.event?.type !== SNAPSHOT_EVENT_TYPE) return undefined;
    const data = newest.event.data as SnapshotEventData;
    return {
      revision: BigInt(data.revision),
      commitPosition: data.commitPosition === null ? undefined : BigInt(data.commitPosition),
      version: data.version,
      state: data.state,
      ...(typeof data.journalThrough === 'string' ? { journalThrough: BigInt(data.journalThrough) } : {}),
    };
  }

  /**
   * `snapshot.state` must already be a detached JSON value: the client serialises it later, after the
   * live state may have moved on. `setMaxCount` is needed once per snapshot stream; the caller knows
   * whether it already found or wrote a snapshot there.
   */
  async write(streamName: string, snapshot: StreamSnapshot, setMaxCount: boolean): Promise<void> {
    const snapshotStream = this.streamNameOf(streamName);
    if (setMaxCount) await this.client.setStreamMetadata(snapshotStream, { maxCount: 1 });
    const data: SnapshotEventData = {
      snapshotOf: streamName,
      revision: snapshot.revision.toString(),
      commitPosition: snapshot.commitPosition === undefined ? null : snapshot.commitPosition.toString(),
      version: snapshot.version,
      state: snapshot.state as JSONType,
      ...(snapshot.journalThrough === undefined
        ? {}
        : { journalThrough: snapshot.journalThrough.toString() }),
    };
    await this.client.appendToStream(
      snapshotStream,
      jsonEvent({ id: randomUUID(), type: SNAPSHOT_EVENT_TYPE, data }),
    );
  }
}

/** What a journal event carries; revisions as decimal strings since JSON has no bigint. */
interface JournalEventData {
  readonly [key: string]: JSONType | string | number;
  readonly journalOf: string;
  /** The entry covers what the state gained in revisions (after, through]. */
  readonly after: string;
  readonly through: string;
  readonly version: number;
  readonly entry: JSONType;
}

/**
 * The deferred part of snapshots (see `SnapshotJournal`): entries appended before the snapshot that
 * names how far they reach, dropped by the store once older than the stream's `$maxAge`.
 */
export class JournalStore {
  constructor(
    private readonly client: EventStoreDBClient,
    private readonly streamNameOf: (streamName: string) => string,
  ) {}

  /** Every entry of `version` still in the journal, oldest first. */
  async read(streamName: string, version: number): Promise<unknown[]> {
    const entries: unknown[] = [];
    try {
      for await (const resolved of this.client.readStream(this.streamNameOf(streamName))) {
        const event = resolved.event;
        if (event?.type !== JOURNAL_EVENT_TYPE) continue;
        const data = event.data as JournalEventData;
        if (data.version === version) entries.push(data.entry);
      }
    } catch (error) {
      if (error instanceof StreamNotFoundError) return [];
      throw error;
    }
    return entries;
  }

  /**
   * One append per entry, in order: each entry is already sized to stay under the append limit.
   * `maxAgeSeconds` is set on the stream when given (once per process is enough).
   */
  async append(
    streamName: string,
    range: { readonly after: bigint; readonly through: bigint; readonly version: number },
    entries: readonly unknown[],
    maxAgeSeconds: number | undefined,
  ): Promise<void> {
    const journalStream = this.streamNameOf(streamName);
    if (maxAgeSeconds !== undefined)
      await this.client.setStreamMetadata(journalStream, { maxAge: maxAgeSeconds });
    for (const entry of entries) {
      const data: JournalEventData = {
        journalOf: streamName,
        after: range.after.toString(),
        through: range.through.toString(),
        version: range.version,
        entry: entry as JSONType,
      };
      await this.client.appendToStream(
        journalStream,
        jsonEvent({ id: randomUUID(), type: JOURNAL_EVENT_TYPE, data }),
      );
    }
  }
}
