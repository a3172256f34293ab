import { DynamicModule, Global, Module } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import type { AppConfig } from '../config/app-config';

/** Injection token of the application's root pino logger (structured JSON lines). */
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

/**
 * One JSON line per request, written from a Fastify hook. Measured on the no-op route with 64
 * clients, nestjs-pino's pino-http middleware halved the throughput (about 4,300 against 9,000
 * requests/s on 2 cores), and it keeps one logger per process where tests start several services;
 * so the request line is written here and Nest's own lines go through `PinoLoggerService`.
 * Request headers are never logged.
 */
export function logRequests(fastify: FastifyInstance, logger: Logger): void {
  fastify.addHook('onResponse', (request, reply, done) => {
    const level: Level = reply.statusCode >= 500 ? 'warn' : 'info';
    if (logger.isLevelEnabled(level)) {
      logger[level](
        {
          requestId: request.id,
          req: { method: request.method, url: request.url },
          res: { statusCode: reply.statusCode },
          responseTime: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request completed',
      );
    }
    done();
  });
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
