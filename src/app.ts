import type { AddressInfo } from 'node:net';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import type { DestinationStream, Logger } from 'pino';
import { AppModule } from './app.module';
import { AppConfig, ConfigOverrides, loadConfig } from './config/app-config';
import type { StartingEmbeddedStore } from './event-store/embedded-store.process';
import { keepGeneratedOperatorToken } from './config/operator-token';
import { answerFrameworkError } from './http/framework-errors';
import { useJsonBodyOnly } from './http/json-body-parser';
import { HttpDrain } from './http/graceful-shutdown';
import { createRootLogger, ROOT_LOGGER } from './observability/logging.module';
import { logRequests } from './http/request-log';
import { METRICS_REGISTRY } from './observability/metrics-registry.module';
import { instrumentHttp } from './http/metrics.module';
import { setUpOpenApi } from './http/open-api';
import { PinoLoggerService } from './http/pino-logger.service';
import { REQUEST_ID_HEADER, requestIdFor } from './http/request-id';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { version } = require('../package.json') as { version: string };

export interface CreateAppOptions extends ConfigOverrides {
  /** The environment to read settings from; `process.env` unless given. Overrides win over it. */
  readonly env?: NodeJS.ProcessEnv;
  /** Where log lines go instead of stdout. */
  readonly logDestination?: DestinationStream;
  /** Close the app on SIGTERM / SIGINT (the real process); off for services started inside tests. */
  readonly handleSignals?: boolean;
  /** The embedded store's process, started by `main.ts` on the configured folder before the modules loaded. */
  readonly startedStore?: StartingEmbeddedStore;
}

export interface RunningApp {
  readonly app: NestFastifyApplication;
  readonly config: AppConfig;
  /** e.g. http://127.0.0.1:49152, with the port actually bound (PORT=0 picks a free one). */
  readonly url: string;
  /**
   * The orderly stop: stops accepting, lets the requests in flight finish, then closes the modules
   * (command processor, projections), the event store client and the embedded store. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Builds, configures and starts the whole service: used by `main.ts` and by the tests, which start
 * it in-process on port 0 with settings of their own. Throws `ConfigError` before anything starts
 * when the settings are invalid.
 */
export async function createApp(options: CreateAppOptions = {}): Promise<RunningApp> {
  const config = keepGeneratedOperatorToken(loadConfig(options.env ?? process.env, options));
  const logger = createRootLogger(config, options.logDestination);
  const app = await NestFactory.create<NestFastifyApplication>(
    AppModule.forRoot(config, logger, options.startedStore),
    createFastifyAdapter(config),
    // abortOnError off: a failed start rejects (main.ts reports it and exits) instead of Nest
    // killing the process, which would take a whole test run with it.
    { logger: new PinoLoggerService(logger), bodyParser: false, abortOnError: false },
  );
  let drain: HttpDrain;
  try {
    configureApp(app, config);
    drain = new HttpDrain(app.getHttpAdapter().getInstance());
    await app.listen(config.port, config.host);
  } catch (error) {
    await app.close();
    throw error;
  }
  const url = localUrl(app, config);
  logger.info({ url }, 'Subledger listening');
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      logger.info({ requestsInFlight: drain.requestsInFlight }, 'Subledger stopping: draining requests');
      await drain.drain(config.shutdownGraceMs);
      await app.close();
      logger.info('Subledger stopped');
    })();
    return closing;
  };
  if (options.handleSignals ?? true) handleSignals(close);
  return { app, config, url, close };
}

/**
 * SIGTERM or SIGINT starts the orderly stop; the process exits 0 once it is done (not by re-raising
 * the signal), so a supervisor or a container stop reads it as success and pino flushes on exit. A
 * second signal while draining changes nothing: the grace period is what bounds the stop.
 */
function handleSignals(close: () => Promise<void>): void {
  const onSignal = () => {
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Subledger failed to stop cleanly: ${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

export function createFastifyAdapter(config: AppConfig): FastifyAdapter {
  return new FastifyAdapter({
    bodyLimit: config.bodyLimitBytes,
    genReqId: requestIdFor,
    requestIdHeader: false,
    frameworkErrors: answerFrameworkError,
  });
}

/**
 * Everything an application needs beyond its modules; also applied by tests that build the app from
 * a `Test.createTestingModule` over AppModule.
 */
export function configureApp(app: NestFastifyApplication, config: AppConfig): void {
  const logger = app.get<Logger>(ROOT_LOGGER);
  app.useLogger(new PinoLoggerService(logger));
  const fastify = app.getHttpAdapter().getInstance();
  logRequests(fastify, logger);
  useJsonBodyOnly(fastify, config.bodyLimitBytes);
  instrumentHttp(fastify, app.get(METRICS_REGISTRY));
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(REQUEST_ID_HEADER, request.id);
    done();
  });
  setUpOpenApi(app, version);
}

function localUrl(app: NestFastifyApplication, config: AppConfig): string {
  const address = app.getHttpServer().address() as AddressInfo;
  const host = ['0.0.0.0', '::', ''].includes(config.host) ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}
