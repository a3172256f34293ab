import { DynamicModule, Module, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ApiKeyRegistry } from './api-key.registry';
import { AuthGuard } from './auth.guard';

/**
 * The global guard: every `/v1` route is authenticated, whichever module declares it. Keys are
 * looked up in a directory that another module provides (the ledger's, whose events record them),
 * so auth imports nothing above it.
 */
@Module({})
export class AuthModule {
  /** `directory` is a module that exports `API_KEY_DIRECTORY` (src/auth/api-key-directory.ts). */
  static withKeyDirectory(directory: Type): DynamicModule {
    return {
      module: AuthModule,
      imports: [directory],
      providers: [ApiKeyRegistry, { provide: APP_GUARD, useClass: AuthGuard }],
      exports: [ApiKeyRegistry],
    };
  }
}
