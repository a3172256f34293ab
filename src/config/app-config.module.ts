import { DynamicModule, Global, Module } from '@nestjs/common';
import { AppConfig } from './app-config';
import { Clock } from './clock';

/**
 * Makes the validated settings and the clock injectable everywhere. The settings are loaded and
 * checked before Nest starts (see `loadConfig`), so no provider ever sees an invalid value; that is
 * why this is a small typed loader rather than `@nestjs/config` reading `process.env` itself.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: Clock, useFactory: () => new Clock(config.clockStartsAt) },
      ],
      exports: [AppConfig, Clock],
    };
  }
}
