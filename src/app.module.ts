import { DynamicModule, Module, Type } from '@nestjs/common';
import type { Logger } from 'pino';
import { BillingModule } from './billing/billing.module';
import { AuditModule } from './audit/audit.module';
import { WebhooksModule } from './webhooks/webhooks.module';
import { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/app-config.module';
import { ConsoleModule } from './console/console.module';
import { DatabaseModule } from './database/database.module';
import { EventStoreModule } from './event-store/event-store.module';
import type { StartingEmbeddedStore } from './event-store/embedded-store.process';
import { HealthModule } from './health/health.module';
import { LedgerModule } from './ledger/ledger.module';
import { HttpModule } from './http/http.module';
import { MetricsModule } from './http/metrics.module';
import { LoggingModule } from './observability/logging.module';
import { MetricsRegistryModule } from './observability/metrics-registry.module';
import { RateLimitModule } from './http/rate-limit.module';
import { ReadSideModule } from './projections/read-side.module';
import { UsageKeyIndexModule } from './projections/usage-keys/usage-keys.module';

/** The capabilities of the service; a new feature module is added here and nowhere else. */
const FEATURE_MODULES: Type[] = [
  HealthModule,
  LedgerModule,
  BillingModule,
  ReadSideModule,
  ConsoleModule,
  AuditModule,
  WebhooksModule,
];

@Module({})
export class AppModule {
  /** `startedStore`: the embedded store's process, started by `main.ts` before the modules loaded. */
  static forRoot(config: AppConfig, logger: Logger, startedStore?: StartingEmbeddedStore): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggingModule.forRoot(logger),
        EventStoreModule.forRoot(startedStore),
        DatabaseModule,
        // Global: the ledger's command processor asks it for the idempotency-key index.
        UsageKeyIndexModule,
        HttpModule,
        MetricsRegistryModule,
        MetricsModule,
        // Before the feature modules, so its guard runs before authentication.
        RateLimitModule.forRoot(config),
        ...FEATURE_MODULES,
      ],
    };
  }
}
