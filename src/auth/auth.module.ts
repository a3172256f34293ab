import { DynamicModule, Module, Type } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuthGuard } from './auth.guard';

/**
 * The global guard: every `/v1` route is authenticated, whichever module declares it. Keys are
 * looked up in a directory that another module provides (the ledger's, whose events record them),
 * so auth imports nothing above it.
 */
@Module({})
export class AuthModule {
  /**
   * `directory` is a module that exports `API_KEY_DIRECTORY` (src/auth/api-key-directory.ts) and the
   * one `ApiKeyRegistry` in front of it, so the keys it issues are remembered where the guard looks.
   */
  static withKeyDirectory(directory: Type): DynamicModule {
    return {
      module: AuthModule,
      imports: [directory],
      providers: [{ provide: APP_GUARD, useClass: AuthGuard }],
    };
  }
}
