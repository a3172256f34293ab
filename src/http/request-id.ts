import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';

/** What a caller may choose as its own request id: short, printable, no spaces or quotes to forge log lines. */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const REQUEST_ID = Symbol('subledger.requestId');

type WithRequestId = IncomingMessage & { [REQUEST_ID]?: string };

/**
 * The id of one request: the caller's `x-request-id` when it is sane, otherwise a fresh UUID.
 * Fastify and the request logger both ask for it; remembering it on the raw request gives both the
 * same id.
 */
export function requestIdFor(req: IncomingMessage): string {
  const request = req as WithRequestId;
  const known = request[REQUEST_ID];
  if (known) return known;
  const incoming = req.headers[REQUEST_ID_HEADER];
  const id = typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  request[REQUEST_ID] = id;
  return id;
}
