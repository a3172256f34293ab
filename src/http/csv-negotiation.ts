import { applyDecorators, createParamDecorator, type ExecutionContext, type Type } from '@nestjs/common';
import { ApiOkResponse, ApiProduces } from '@nestjs/swagger';
import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { sendCsv, wantsCsv } from './csv';

/**
 * The OpenAPI declaration of a route that answers JSON or, on `Accept: text/csv`, CSV: both content
 * types, and the JSON shape with what one CSV row is (`rows`: "group", "invoice line", …).
 */
export function JsonOrCsv(type: Type<unknown>, rows: string): MethodDecorator {
  return applyDecorators(
    ApiProduces('application/json', 'text/csv'),
    ApiOkResponse({ type, description: `JSON, or CSV with one row per ${rows}` }),
  );
}

/** The request's choice between JSON and CSV, and the way to answer it. */
export class CsvNegotiation {
  constructor(
    /** True when the caller asked for CSV (`Accept: text/csv`, src/http/csv.ts `wantsCsv`). */
    readonly wanted: boolean,
    private readonly reply: FastifyReply,
  ) {}

  /** The JSON value, or its CSV rendering sent as a download named `filename`. */
  answer<T>(value: T, filename: string, render: (value: T) => string): T | string {
    return this.wanted ? this.send(filename, render(value)) : value;
  }

  /**
   * A JSON body that is serialised already, as buffers (PostgreSQL's, copied): sent one after another
   * with its length, typed as JSON; no one string of it is ever made. `sent` runs once the response
   * has finished (its bytes handed to the socket), not if it was cut short: the buffers may be reused.
   */
  jsonChunks(chunks: readonly Buffer[], bytes: number, sent: () => void = () => {}): Readable {
    void this.reply.type('application/json; charset=utf-8').header('content-length', bytes);
    this.reply.raw.once('finish', sent);
    return Readable.from(chunks);
  }

  /** Sends a CSV body (with any extra headers); the filename names the download. */
  send(filename: string, body: string, headers: Readonly<Record<string, string>> = {}): string {
    for (const [name, value] of Object.entries(headers)) void this.reply.header(name, value);
    return sendCsv(this.reply, filename, body);
  }
}

/** The route parameter that reads `Accept` and answers JSON or CSV: `@CsvOrJson() csv: CsvNegotiation`. */
export const CsvOrJson = createParamDecorator((_: unknown, context: ExecutionContext): CsvNegotiation => {
  const http = context.switchToHttp();
  const accept = http.getRequest<FastifyRequest>().headers.accept;
  return new CsvNegotiation(wantsCsv(accept), http.getResponse<FastifyReply>());
});
