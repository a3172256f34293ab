import { Global, Module } from '@nestjs/common';
import { Database } from '../../database/database';
import { USAGE_KEY_INDEX } from '../../ledger/application/usage-key-index';
import { PgUsageKeyIndex } from './pg-usage-key-index';

/**
 * The idempotency-key index for the ledger's command processor, which asks for it by token (the
 * ledger imports nothing of the read side): global, so the ledger's module finds it once the
 * bootstrap lists this module.
 */
@Global()
@Module({
  providers: [
    {
      provide: USAGE_KEY_INDEX,
      useFactory: (database: Database) => new PgUsageKeyIndex(database),
      inject: [Database],
    },
  ],
  exports: [USAGE_KEY_INDEX],
})
export class UsageKeyIndexModule {}
