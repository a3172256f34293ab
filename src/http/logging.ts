import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Params } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import type { AppConfig } from '../config/app-config';
import { requestIdFor } from './request-id';

/**
 * Where a secret could ride into a log line. Requests are serialized without headers anyway; the
 * redaction also covers objects that code logs by hand.
 */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  '*.headers.authorization',
  'authorization',
  '*.authorization',
  'operatorToken',
  '*.operatorToken',
  'secret',
  '*.secret',
  'apiKey.secret',
  '*.apiKey.secret',
  'password',
  '*.password',
];

/** Structured JSON logs, one id per request shared with the `x-request-id` response header. */
export function loggerParams(config: AppConfig, destination?: DestinationStream): Params {
  const options = {
    level: config.logLevel,
    genReqId: (req: IncomingMessage) => requestIdFor(req),
    // Lines logged while serving a request carry its id, not a copy of the whole request.
    quietReqLogger: true,
    customAttributeKeys: { reqId: 'requestId' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req: (req: IncomingMessage & { id?: string }) => ({ id: req.id, method: req.method, url: req.url }),
      res: (res: ServerResponse) => ({ statusCode: res.statusCode }),
    },
    // Unexpected errors are logged with their stack by the problem-details filter; the request
    // line only needs the status, not pino-http's made-up "failed with status code" error.
    customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
      error || res.statusCode >= 500 ? 'warn' : 'info',
    customErrorObject: (
      _req: IncomingMessage,
      _res: ServerResponse,
      _error: Error,
      fields: Record<string, unknown>,
    ) => {
      const { err: _err, ...rest } = fields;
      return rest;
    },
  } as const;
  return { pinoHttp: destination ? [options, destination] : options };
}
