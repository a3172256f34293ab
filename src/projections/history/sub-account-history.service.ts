import type { Database } from '../../database/database';
import { CREDIT_ENTRIES_TABLE, creditEntriesProjection, POOL_ACCOUNT } from '../credit-entries.projection';
import type { ProjectionReadOptions } from '../projection';
import { ProjectionQueryError } from '../projection.errors';
import type { ReadModelProgress } from '../read-model-progress';
import {
  decodeHistoryCursor,
  encodeHistoryCursor,
  MAX_HISTORY_LIMIT,
  type HistoryEntryBase,
  type HistoryQuery,
  type PoolHistoryEntry,
  type StoredHistoryEntry,
  type SubAccountHistoryEntry,
} from './history-entry';

export interface HistoryPage<Entry> {
  readonly entries: Entry[];
  /** Pass as `cursor` for the next page; null when nothing more matches right now. */
  readonly nextCursor: string | null;
}

/**
 * The audit trail of a sub-account or of a parent's pool: one index range of the credit entries, each
 * row holding its entry as the projection made it from the event (decision 81).
 */
export class SubAccountHistoryService {
  constructor(
    private readonly runner: ReadModelProgress,
    private readonly database: Database,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** undefined when the read model knows no such sub-account (the HTTP layer answers 404). */
  history(
    parentId: string,
    subAccountId: string,
    query: HistoryQuery,
  ): Promise<HistoryPage<SubAccountHistoryEntry> | undefined> {
    return this.page<SubAccountHistoryEntry>(parentId, subAccountId, query);
  }

  /** undefined when the read model knows no credit movement of the parent at all. */
  poolHistory(parentId: string, query: HistoryQuery): Promise<HistoryPage<PoolHistoryEntry> | undefined> {
    return this.page<PoolHistoryEntry>(parentId, POOL_ACCOUNT, query);
  }

  private async page<Entry extends HistoryEntryBase>(
    parentId: string,
    account: string,
    query: HistoryQuery,
  ): Promise<HistoryPage<Entry> | undefined> {
    if (!Number.isInteger(query.limit) || query.limit < 1 || query.limit > MAX_HISTORY_LIMIT) {
      throw new ProjectionQueryError(`limit must be an integer from 1 to ${MAX_HISTORY_LIMIT}`);
    }
    const after = query.cursor === undefined ? -1 : decodeHistoryCursor(query.cursor);
    await this.runner.readable(creditEntriesProjection.name, this.options.readTimeoutMs);
    const { rows } = await this.database.pool.query<{ revision: string; entry: StoredHistoryEntry<Entry> }>(
      `SELECT revision, entry FROM ${CREDIT_ENTRIES_TABLE}
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
    const page = rows.slice(0, query.limit);
    const entries = page.map(
      (row) => ({ cursor: encodeHistoryCursor(Number(row.revision)), ...row.entry }) as Entry,
    );
    const last = page.at(-1);
    return {
      entries,
      nextCursor: hasMore && last !== undefined ? encodeHistoryCursor(Number(last.revision)) : null,
    };
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
