import { DynamicModule, Global, Module } from '@nestjs/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config';

/**
 * Injection token of the application's root pino logger (structured JSON lines). Below HTTP, so
 * any layer may log through it; the request line is the HTTP edge's (src/http/logging.module.ts).
 */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/** Where a secret could ride into a log line when code logs an object by hand. */
const REDACTED_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  '*.headers.cookie',
  'operatorToken',
  '*.operatorToken',
  'secret',
  '*.secret',
  '*.*.secret',
  'password',
  '*.password',
];

export function createRootLogger(config: AppConfig, destination?: DestinationStream): Logger {
  const options = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err },
  };
  // Asynchronous stdout: under load consecutive lines go out in one write instead of one write each
  // (a third of the no-op route's throughput at info level); lines still pending when the process is
  // killed are lost, which the event store, not the log, is there to survive.
  return pino(options, destination ?? pino.destination({ dest: 1, sync: false }));
}

@Global()
@Module({})
export class LoggingModule {
  static forRoot(logger: Logger): DynamicModule {
    return {
      module: LoggingModule,
      providers: [{ provide: ROOT_LOGGER, useValue: logger }],
      exports: [ROOT_LOGGER],
    };
  }
}
