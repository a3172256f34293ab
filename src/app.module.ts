import { DynamicModule, Module, Type } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppConfig } from './config/app-config';
import { AppConfigModule } from './config/app-config.module';
import { EventStoreModule } from './event-store/event-store.module';
import { HealthModule } from './health/health.module';
import { HttpModule } from './http/http.module';
import { loggerParams } from './http/logging';
import { MetricsModule } from './http/metrics.module';

/** The capabilities of the service; a new feature module is added here and nowhere else. */
const FEATURE_MODULES: Type[] = [HealthModule];

export interface AppModuleOptions {
  /** Where log lines go instead of stdout (tests capture them). */
  readonly logDestination?: DestinationStream;
}

@Module({})
export class AppModule {
  static forRoot(config: AppConfig, options: AppModuleOptions = {}): DynamicModule {
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        LoggerModule.forRoot(loggerParams(config, options.logDestination)),
        EventStoreModule,
        HttpModule,
        MetricsModule,
        ...FEATURE_MODULES,
      ],
    };
  }
}
