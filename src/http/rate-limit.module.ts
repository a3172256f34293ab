import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { AppConfig } from '../config/app-config';
import { RateLimitGuard } from './rate-limit.guard';
import { FixedWindowRateLimitStorage } from './rate-limit.storage';

const WINDOW_MS = 1000;

/**
 * Per-key rate limiting (SUBLEDGER_RATE_LIMIT_PER_SECOND). With 0 the guard is not registered at
 * all, so a disabled limit costs nothing per request.
 */
@Module({})
export class RateLimitModule {
  static forRoot(config: AppConfig) {
    if (config.rateLimitPerSecond === 0) return { module: RateLimitModule };
    return {
      module: RateLimitModule,
      imports: [
        ThrottlerModule.forRoot({
          throttlers: [{ ttl: WINDOW_MS, limit: config.rateLimitPerSecond }],
          storage: new FixedWindowRateLimitStorage(),
        }),
      ],
      providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
    };
  }
}
