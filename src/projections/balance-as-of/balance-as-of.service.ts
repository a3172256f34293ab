import type { SubAccountBalances } from '../../ledger/domain/ledger.events';
import type { Database } from '../../database/database';
import { CREDIT_ENTRIES_TABLE, creditEntriesProjection } from '../credit-entries.projection';
import type { ProjectionReadOptions } from '../projection';
import type { ReadModelProgress } from '../read-model-progress';

export interface BalanceAsOf extends SubAccountBalances {
  readonly asOf: string;
  /** False when the sub-account was created after `asOf`: every balance is then 0. */
  readonly existed: boolean;
}

/**
 * A sub-account's balance after the last credit event recorded at or before an instant: one lookup in
 * the credit entries' (parent, account, recorded_at, revision) index, however long the history.
 */
export class BalanceAsOfService {
  constructor(
    private readonly runner: ReadModelProgress,
    private readonly database: Database,
    private readonly options: ProjectionReadOptions,
  ) {}

  /** undefined when the read model knows no such sub-account (the HTTP layer answers 404). */
  async balanceAsOf(parentId: string, subAccountId: string, asOf: Date): Promise<BalanceAsOf | undefined> {
    await this.runner.readable(creditEntriesProjection.name, this.options.readTimeoutMs);
    const { rows } = await this.database.pool.query<{
      quota: string | null;
      used: string | null;
      known: boolean;
    }>(
      `SELECT e.quota_after AS quota, e.used_after AS used,
              EXISTS (SELECT 1 FROM ${CREDIT_ENTRIES_TABLE} WHERE parent_id = $1 AND account = $2) AS known
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (
         SELECT quota_after, used_after FROM ${CREDIT_ENTRIES_TABLE}
         WHERE parent_id = $1 AND account = $2 AND recorded_at <= $3
         ORDER BY recorded_at DESC, revision DESC LIMIT 1
       ) AS e ON true`,
      [parentId, subAccountId, asOf.toISOString()],
    );
    const row = rows[0];
    if (!row.known) return undefined;
    if (row.quota === null || row.used === null) {
      return { asOf: asOf.toISOString(), existed: false, quota: 0, used: 0, remaining: 0 };
    }
    const quota = Number(row.quota);
    const used = Number(row.used);
    return { asOf: asOf.toISOString(), existed: true, quota, used, remaining: quota - used };
  }
}
