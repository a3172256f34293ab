import { startTestService } from '../support/service';

describe('GET /metrics', () => {
  it('exposes Prometheus metrics, HTTP requests labelled by route template', async () => {
    const service = await startTestService();
    try {
      expect((await service.api.get('/health/live')).status).toBe(200);
      expect((await service.api.get('/no/such/route/42')).status).toBe(404);

      const response = await service.api.get('/metrics');
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toMatch(/^text\/plain/);
      const text = String(response.body);
      expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
      expect(text).toMatch(
        /^http_request_duration_seconds_count\{method="GET",route="\/health\/live",status="200"\} 1$/m,
      );
      expect(text).toMatch(
        /^http_request_duration_seconds_count\{method="GET",route="unmatched",status="404"\} 1$/m,
      );
      expect(text).not.toContain('/no/such/route/42');
    } finally {
      await service.close();
    }
  });

  it('is not part of the OpenAPI document', async () => {
    const service = await startTestService();
    try {
      const spec = await service.api.get('/docs/json');
      expect(Object.keys(spec.body.paths)).not.toContain('/metrics');
    } finally {
      await service.close();
    }
  });
});
