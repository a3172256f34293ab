import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';

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
  const document = SwaggerModule.createDocument(
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
        description: 'Operator token, parent key or sub-account key',
      })
      .build(),
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
