import type { EventStoreDBClient } from '@eventstore/db-client';
import { fromResolvedEvent } from '../../event-store/command-processing/event-envelope';
import { isLedgerEvent, type ProjectionReadOptions, type StoredLedgerEvent } from '../projection';
import { ledgerStreamName } from '../../ledger/domain';
import type { ProjectionRunner } from '../projection-runner';
import {
  encodeHistoryCursor,
  historySlice,
  poolHistoryEntry,
  subAccountHistoryEntry,
  subAccountHistoryProjection,
  type HistoryQuery,
  type HistoryTimeline,
  type PoolHistoryEntry,
  type SubAccountHistoryEntry,
  type SubAccountHistoryState,
} from './sub-account-history.projection';

export interface HistoryPage<Entry> {
  readonly entries: Entry[];
  /** Pass as `cursor` for the next page; null when nothing more matches right now. */
  readonly nextCursor: string | null;
}

/** Needed revisions closer than this are read in one range rather than in two reads. */
const MAX_GAP_READ_THROUGH = 12;
const PARALLEL_READS = 8;

/**
 * The audit trail of a sub-account or of a parent's pool. The projection says which revisions of the
 * parent's stream belong to the page; this service reads exactly those events back from the store, so
 * every entry shows what the log holds, field for field.
 */
export class SubAccountHistoryService {
  constructor(
    private readonly runner: ProjectionRunner,
    private readonly client: EventStoreDBClient,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** undefined when the projection knows no such sub-account (the HTTP layer answers 404). */
  async history(
    parentId: string,
    subAccountId: string,
    query: HistoryQuery,
  ): Promise<HistoryPage<SubAccountHistoryEntry> | undefined> {
    const state = await this.state();
    const timeline = state.get(parentId)?.subAccounts.get(subAccountId);
    if (!timeline) return undefined;
    return this.page(parentId, timeline, query, subAccountHistoryEntry);
  }

  /** undefined when the projection knows no such parent. */
  async poolHistory(
    parentId: string,
    query: HistoryQuery,
  ): Promise<HistoryPage<PoolHistoryEntry> | undefined> {
    const state = await this.state();
    const parent = state.get(parentId);
    if (!parent) return undefined;
    return this.page(parentId, parent.pool, query, poolHistoryEntry);
  }

  private state(): Promise<SubAccountHistoryState> {
    return this.runner.read<SubAccountHistoryState>(
      subAccountHistoryProjection.name,
      this.options.readTimeoutMs,
    );
  }

  private async page<Entry>(
    parentId: string,
    timeline: HistoryTimeline,
    query: HistoryQuery,
    toEntry: (event: StoredLedgerEvent) => Entry,
  ): Promise<HistoryPage<Entry>> {
    // Taken synchronously: the timeline grows in place while the events are read back.
    const slice = historySlice(timeline, query);
    const events = await readRevisions(this.client, ledgerStreamName(parentId), slice.revisions);
    const entries = slice.revisions.map((revision) => {
      const event = events.get(revision);
      if (!event)
        throw new Error(`Revision ${revision} of ${ledgerStreamName(parentId)} could not be read back`);
      return toEntry(event);
    });
    const last = slice.revisions.at(-1);
    return { entries, nextCursor: slice.hasMore && last !== undefined ? encodeHistoryCursor(last) : null };
  }
}

/**
 * Reads the given revisions (ascending) of one stream. A sub-account's events are interleaved with its
 * siblings' in the parent stream, so nearby revisions are read as one range and far ones as separate
 * reads, a few at a time.
 */
export async function readRevisions(
  client: EventStoreDBClient,
  streamName: string,
  revisions: readonly number[],
): Promise<Map<number, StoredLedgerEvent>> {
  const ranges: { from: number; count: number }[] = [];
  for (const revision of revisions) {
    const range = ranges.at(-1);
    if (range && revision - (range.from + range.count - 1) <= MAX_GAP_READ_THROUGH) {
      range.count = revision - range.from + 1;
    } else {
      ranges.push({ from: revision, count: 1 });
    }
  }
  const wanted = new Set(revisions);
  const found = new Map<number, StoredLedgerEvent>();
  let next = 0;
  const worker = async () => {
    while (next < ranges.length) {
      const range = ranges[next++];
      for await (const resolved of client.readStream(streamName, {
        fromRevision: BigInt(range.from),
        maxCount: range.count,
      })) {
        const event = fromResolvedEvent(resolved);
        if (event && isLedgerEvent(event) && wanted.has(Number(event.revision))) {
          found.set(Number(event.revision), event);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, ranges.length) }, worker));
  return found;
}
