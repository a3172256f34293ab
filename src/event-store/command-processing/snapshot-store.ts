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

/** A folded state of a stream as of `revision`, so a load only reads the events after it. */
export interface StreamSnapshot {
  readonly revision: bigint;
  readonly commitPosition: bigint | undefined;
  readonly version: number;
  readonly state: unknown;
}

/** What the snapshot event carries; 64-bit numbers as decimal strings since JSON has no bigint. */
interface SnapshotEventData {
  readonly [key: string]: JSONType | string | number | null;
  readonly snapshotOf: string;
  readonly revision: string;
  readonly commitPosition: string | null;
  readonly version: number;
  readonly state: JSONType;
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
    };
    await this.client.appendToStream(
      snapshotStream,
      jsonEvent({ id: randomUUID(), type: SNAPSHOT_EVENT_TYPE, data }),
    );
  }
}
