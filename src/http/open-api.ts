import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule, getSchemaPath, type OpenAPIObject } from '@nestjs/swagger';
import { ProblemDto } from './problem.dto';
import { PROBLEM_CONTENT_TYPE } from './problem';

const DOCS_PATH = '/docs';
const SPEC_PATH = '/docs/json';
const UI_ASSETS = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'application/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
} as const;

/**
 * Serves the OpenAPI document at /docs/json and Swagger UI at /docs. `SwaggerModule` would serve
 * the UI through `@fastify/static`, which is not a dependency; the three files the page needs are
 * served from `swagger-ui-dist` here instead.
 */
export function setUpOpenApi(app: NestFastifyApplication, version: string): void {
  const document = completeDocument(
    SwaggerModule.createDocument(
      app,
      new DocumentBuilder()
        .setTitle('Subledger')
        .setDescription(
          'Event-sourced credit ledger for parent accounts and their sub-accounts. Errors are ' +
            'application/problem+json (RFC 9457) with a stable `code`.',
        )
        .setVersion(version)
        .addBearerAuth({
          type: 'http',
          scheme: 'bearer',
          description:
            'The operator token, a parent key or a sub-account key, as `Authorization: Bearer <secret>`. ' +
            'Keys are opaque random secrets (not JWTs), shown once when issued.',
        })
        .build(),
      { extraModels: [ProblemDto] },
    ),
  );
  SwaggerModule.setup(DOCS_PATH, app, document, { ui: false, raw: ['json'], jsonDocumentUrl: SPEC_PATH });

  const fastify = app.getHttpAdapter().getInstance();
  const assetsDir = path.dirname(require.resolve('swagger-ui-dist/package.json'));
  for (const [file, contentType] of Object.entries(UI_ASSETS)) {
    const body = readFileSync(path.join(assetsDir, file));
    fastify.get(`${DOCS_PATH}/assets/${file}`, (_request, reply) => {
      void reply.type(contentType).header('cache-control', 'public, max-age=86400').send(body);
    });
  }
  const page = swaggerUiPage();
  fastify.get(DOCS_PATH, (_request, reply) => {
    void reply.type('text/html; charset=utf-8').send(page);
  });
}

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';

/** What each error status means on this API; every one answers a problem+json body. */
const ERROR_DESCRIPTIONS: Readonly<Record<number, string>> = {
  400: '`validation_failed` (the problem lists each field in `errors`), `malformed_json`',
  401: '`unauthorized`: no bearer token, an unknown one, or a revoked key',
  403: "`forbidden`: the key's role may not use this route",
  404: '`not_found`: no such parent, sub-account or resource, or one of another parent (never 403, so existence does not leak)',
  409: 'a state conflict: the ledger refuses the command (`concurrency_conflict` after bounded retries, and the codes of the route)',
  413: '`payload_too_large`',
  415: '`unsupported_media_type`: send application/json',
  429: '`rate_limited`, with `Retry-After`',
  500: '`internal_error`',
  503: '`event_store_unavailable`, or a read model not ready (`projection_lagging`, `projection_rebuilding`), with `Retry-After`',
};

/**
 * The statuses besides success a route can answer, from what every route of its kind goes through:
 * the guard (401, 403 for a role the route does not take, 404 for another tenant), the rate limit
 * (429), validation (400), the command processor (409 concurrency_conflict on any command), the
 * body parser (413, 415) and the store (503).
 */
function errorStatuses(method: Method, path: string): number[] {
  if (path === '/health') return [503];
  if (!path.startsWith('/v1/')) return [];
  const statuses = new Set([401, 429, 500, 503]);
  if (path !== '/v1/me') statuses.add(400).add(403);
  if (path.includes('{p}')) statuses.add(404);
  if (method !== 'get') statuses.add(409).add(413).add(415);
  return [...statuses].sort((a, b) => a - b);
}

/**
 * Makes the generated document complete enough to generate a client from (SPEC §4). Each controller
 * declares its own success answers (`@ApiOkResponse({type})` and the like, beside the route); this
 * adds what every route of a kind shares: a problem+json schema for every error status it can
 * answer, text bodies for CSV and SSE, request bodies that refuse unknown fields, and bearer auth on
 * `/v1`. The document tests fail on any route whose success answer has no schema.
 */
export function completeDocument(document: OpenAPIObject): OpenAPIObject {
  const bearer = document.components?.securitySchemes?.bearer as Record<string, unknown> | undefined;
  // Nest's addBearerAuth says `bearerFormat: JWT`; our secrets are opaque random keys.
  if (bearer) delete bearer.bearerFormat;
  const problem = { $ref: getSchemaPath(ProblemDto) };
  const requestSchemas = new Set<string>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of ['get', 'post', 'put', 'patch', 'delete'] as const) {
      const operation = item[method];
      if (!operation) continue;
      for (const response of Object.values(operation.responses) as {
        content?: Record<string, { schema?: unknown }>;
      }[]) {
        for (const [type, media] of Object.entries(response.content ?? {})) {
          if (type === 'text/csv' || type === 'text/event-stream') media.schema = { type: 'string' };
        }
      }
      for (const status of errorStatuses(method, path)) {
        const existing = operation.responses[status] as { description?: string } | undefined;
        const description = ERROR_DESCRIPTIONS[status];
        operation.responses[status] = {
          description: existing?.description ? `${existing.description}; ${description}` : description,
          content: { [PROBLEM_CONTENT_TYPE]: { schema: problem } },
        };
      }
      // An error a route declares itself (e.g. the close's 422) answers problem+json like the rest.
      for (const [status, response] of Object.entries(operation.responses) as [
        string,
        { content?: unknown },
      ][]) {
        if (Number(status) >= 400 && !response.content) {
          response.content = { [PROBLEM_CONTENT_TYPE]: { schema: problem } };
        }
      }
      if (path.startsWith('/v1/')) operation.security = [{ bearer: [] }];
      const body = operation.requestBody as
        { required?: boolean; content?: Record<string, { schema?: { $ref?: string } }> } | undefined;
      const ref = body?.content?.['application/json']?.schema?.$ref;
      if (body && ref) {
        const name = ref.split('/').pop()!;
        requestSchemas.add(name);
        const schema = document.components?.schemas?.[name] as { required?: string[] } | undefined;
        // A body whose every field is optional may be left out (e.g. POST …/returns).
        if (!schema?.required?.length) body.required = false;
      }
    }
  }
  // Unknown body fields are refused (SPEC §4): say so, down to nested records.
  const schemas = (document.components?.schemas ?? {}) as Record<string, Record<string, unknown>>;
  // RFC 9457 problems may carry extension members (`errors`, `eventStore`, …).
  const problemSchema = schemas[ProblemDto.name];
  if (problemSchema) problemSchema.additionalProperties = true;
  const pending = [...requestSchemas];
  while (pending.length > 0) {
    const schema = schemas[pending.pop()!];
    if (!schema || schema.additionalProperties === false) continue;
    schema.additionalProperties = false;
    for (const match of JSON.stringify(schema.properties ?? {}).matchAll(
      /"#\/components\/schemas\/([^"]+)"/g,
    )) {
      pending.push(match[1]);
    }
  }
  return document;
}

function swaggerUiPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Subledger API</title>
  <link rel="stylesheet" href="${DOCS_PATH}/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="${DOCS_PATH}/assets/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="${DOCS_PATH}/assets/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({ url: '${SPEC_PATH}', dom_id: '#swagger-ui', persistAuthorization: true });
  </script>
</body>
</html>
`;
}
