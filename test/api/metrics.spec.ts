import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
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

  it('reports the ledger appends: their latency and how many commands and events each carried', async () => {
    const service = await startTestService();
    try {
      const parent = await openParent(service, { credits: 1_000 });
      const sub = await createSubAccount(service, parent, { quota: 100 });
      const records = [1, 2, 3].map((n) => ({ subAccountId: sub, idempotencyKey: `k${n}`, credits: 1 }));
      const batch = await service.api.post(`/v1/parents/${parent.id}/usage/batch`, { records }, parent.key);
      expectStatus(batch, 200);

      const text = String((await service.api.get('/metrics')).body);
      const sample = (name: string) => {
        const match = new RegExp(`^${name}\\{category="ledger"\\} (\\S+)$`, 'm').exec(text);
        return match ? Number(match[1]) : NaN;
      };
      // Open, purchase, sub-account, then the three records decided together: four appends.
      expect(sample('subledger_append_duration_seconds_count')).toBe(4);
      expect(sample('subledger_append_duration_seconds_sum')).toBeGreaterThan(0);
      expect(sample('subledger_append_batch_commands_sum')).toBe(6);
      expect(text).toMatch(/^subledger_append_batch_commands_bucket\{le="2",category="ledger"\} 3$/m);
      expect(sample('subledger_append_batch_events_count')).toBe(4);
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
