import { randomBytes } from 'node:crypto';
import { pollUntil } from '../support/poll';
import { startTestService } from '../support/service';

describe('request logs', () => {
  it('are JSON lines with the request id and never contain an Authorization header value', async () => {
    const lines: string[] = [];
    const service = await startTestService({
      logLevel: 'trace',
      logDestination: { write: (line: string) => void lines.push(line) },
    });
    const secret = `sk_${randomBytes(24).toString('hex')}`;
    try {
      // Ready first (the projector thread may still be catching up), so the logged /health is a 200.
      await pollUntil(
        () => service.api.request('GET', '/health'),
        (answer) => answer.status === 200,
      );
      const headers = {
        authorization: `Bearer ${secret}`,
        'x-request-id': 'log-test-1',
        cookie: `session=${secret}`,
      };
      await service.api.request('GET', '/health', { headers });
      await service.api.request('GET', '/no/such/route', { headers });
      await service.api.request('POST', '/health', { headers, body: '{not json' });
      await service.api.request('GET', `/docs/json`, { headers });
    } finally {
      await service.close();
    }

    const forRequest = lines.filter((line) => line.includes('log-test-1'));
    // The capture works and the request was logged, so the absence of the secret below means something.
    expect(forRequest.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow();
      expect(line).not.toContain(secret);
    }
    const completed = forRequest
      .map((line) => JSON.parse(line))
      .find((entry) => entry.req?.url === '/health');
    expect(completed).toMatchObject({
      requestId: 'log-test-1',
      req: { method: 'GET' },
      res: { statusCode: 200 },
    });
  });
});
