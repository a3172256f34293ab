import { Global, Module } from '@nestjs/common';
import { Database } from '../../database/database';
import { REVERSIBLE_USAGE_INDEX } from '../../ledger/application/reversible-usage-index';
import { USAGE_KEY_INDEX } from '../../ledger/application/usage-key-index';
import { PgUsageKeyIndex } from './pg-usage-key-index';

/**
 * The idempotency-key index and the reversible-usage index for the ledger's command processor, which
 * asks for them by token (the ledger imports nothing of the read side): global, so the ledger's module
 * finds them once the bootstrap lists this module.
 */
@Global()
@Module({
  providers: [
    {
      provide: USAGE_KEY_INDEX,
      useFactory: (database: Database) => new PgUsageKeyIndex(database),
      inject: [Database],
    },
    // The same lookup object answers reversals from the reversible-usage index, beside the keys.
    { provide: REVERSIBLE_USAGE_INDEX, useExisting: USAGE_KEY_INDEX },
  ],
  exports: [USAGE_KEY_INDEX, REVERSIBLE_USAGE_INDEX],
})
export class UsageKeyIndexModule {}
