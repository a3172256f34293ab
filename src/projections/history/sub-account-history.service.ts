import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Database } from '../../database/database';
import { fromResolvedEvent } from '../../event-store/command-processing/event-envelope';
import { ledgerStreamName } from '../../ledger/domain';
import { CREDIT_ENTRIES_TABLE, creditEntriesProjection, POOL_ACCOUNT } from '../credit-entries.projection';
import { isLedgerEvent, type ProjectionReadOptions, type StoredLedgerEvent } from '../projection';
import { ProjectionQueryError } from '../projection.errors';
import type { ReadModelProgress } from '../read-model-progress';
import {
  decodeHistoryCursor,
  encodeHistoryCursor,
  MAX_HISTORY_LIMIT,
  poolHistoryEntry,
  subAccountHistoryEntry,
  type HistoryQuery,
  type PoolHistoryEntry,
  type SubAccountHistoryEntry,
} from './history-entry';

export interface HistoryPage<Entry> {
  readonly entries: Entry[];
  /** Pass as `cursor` for the next page; null when nothing more matches right now. */
  readonly nextCursor: string | null;
}

/** Needed revisions closer than this are read in one range rather than in two reads. */
const MAX_GAP_READ_THROUGH = 12;
const PARALLEL_READS = 8;

/**
 * The audit trail of a sub-account or of a parent's pool. The credit entries say which revisions of
 * the parent's stream belong to the page (one index range in PostgreSQL); this service reads exactly
 * those events back from the store, so every entry shows what the log holds, field for field.
 */
export class SubAccountHistoryService {
  constructor(
    private readonly runner: ReadModelProgress,
    private readonly database: Database,
    private readonly client: EventStoreDBClient,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** undefined when the read model knows no such sub-account (the HTTP layer answers 404). */
  history(
    parentId: string,
    subAccountId: string,
    query: HistoryQuery,
  ): Promise<HistoryPage<SubAccountHistoryEntry> | undefined> {
    return this.page(parentId, subAccountId, query, (event) => subAccountHistoryEntry(event, subAccountId));
  }

  /** undefined when the read model knows no credit movement of the parent at all. */
  poolHistory(parentId: string, query: HistoryQuery): Promise<HistoryPage<PoolHistoryEntry> | undefined> {
    return this.page(parentId, POOL_ACCOUNT, query, poolHistoryEntry);
  }

  private async page<Entry>(
    parentId: string,
    account: string,
    query: HistoryQuery,
    toEntry: (event: StoredLedgerEvent) => Entry,
  ): Promise<HistoryPage<Entry> | undefined> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_HISTORY_LIMIT) {
      throw new ProjectionQueryError(`limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
    }
    const after = query.cursor === undefined ? -1 : decodeHistoryCursor(query.cursor);
    await this.runner.readable(creditEntriesProjection.name, this.options.readTimeoutMs);
    const { rows } = await this.database.pool.query<{ revision: string }>(
      `SELECT revision FROM ${CREDIT_ENTRIES_TABLE}
       WHERE parent_id = $1 AND account = $2 AND revision > $3
         AND ($4::timestamptz IS NULL OR recorded_at >= $4) AND ($5::timestamptz IS NULL OR recorded_at < $5)
       ORDER BY revision LIMIT $6`,
      [
        parentId,
        account,
        after,
        query.from?.toISOString() ?? null,
        query.to?.toISOString() ?? null,
        query.limit + 1,
      ],
    );
    if (rows.length === 0 && !(await this.known(parentId, account))) return undefined;
    const hasMore = rows.length > query.limit;
    const revisions = rows.slice(0, query.limit).map((row) => Number(row.revision));
    const events = await readRevisions(this.client, ledgerStreamName(parentId), revisions);
    const entries = revisions.map((revision) => {
      const event = events.get(revision);
      if (!event)
        throw new Error(`Revision ${revision} of ${ledgerStreamName(parentId)} could not be read back`);
      return toEntry(event);
    });
    const last = revisions.at(-1);
    return { entries, nextCursor: hasMore && last !== undefined ? encodeHistoryCursor(last) : null };
  }

  private async known(parentId: string, account: string): Promise<boolean> {
    const { rowCount } = await this.database.pool.query(
      account === POOL_ACCOUNT
        ? `SELECT 1 FROM ${CREDIT_ENTRIES_TABLE} WHERE parent_id = $1 LIMIT 1`
        : `SELECT 1 FROM ${CREDIT_ENTRIES_TABLE} WHERE parent_id = $1 AND account = $2 LIMIT 1`,
      account === POOL_ACCOUNT ? [parentId] : [parentId, account],
    );
    return (rowCount ?? 0) > 0;
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
