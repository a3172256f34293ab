import { startTestService, type TestService } from '../support/service';

describe('OpenAPI', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService();
  });

  afterAll(async () => {
    await service?.close();
  });

  it('serves the OpenAPI document at /docs/json, with bearer auth declared', async () => {
    const response = await service.api.get('/docs/json');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.body.openapi).toMatch(/^3\./);
    expect(response.body.info.title).toBe('Subledger');
    expect(response.body.paths['/health'].get).toBeDefined();
    expect(response.body.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('serves Swagger UI at /docs with the assets it loads', async () => {
    const page = await service.api.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const assets = [...String(page.body).matchAll(/(?:href|src)="([^"]+)"/g)].map((match) => match[1]);
    expect(assets).toHaveLength(3);
    for (const asset of assets) {
      const response = await fetch(`${service.baseUrl}${asset}`);
      expect(response.status).toBe(200);
      expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
    expect(String(page.body)).toContain("url: '/docs/json'");
  });
});
