import { loadConfig } from '../../src/config/app-config';
import {
  createSubAccount,
  expectProblem,
  issueSubAccountKey,
  openParent,
  readLedger,
  uniqueId,
} from '../support/ledger-fixtures';
import { startTestService, type ApiResponse, type TestService } from '../support/service';

const LIMIT = 20;
/** Bursts are repeated until one meets the limit, so a window ending mid-burst cannot fail the test. */
const MAX_BURSTS = 20;

async function burstUntilLimited(send: () => Promise<ApiResponse>): Promise<ApiResponse[]> {
  const all: ApiResponse[] = [];
  for (let burst = 0; burst < MAX_BURSTS; burst++) {
    const responses = await Promise.all(Array.from({ length: LIMIT * 2 }, send));
    all.push(...responses);
    if (responses.some((response) => response.status === 429)) return all;
  }
  return all;
}

describe('rate limiting per key', () => {
  let service: TestService;
  afterEach(async () => service?.close());

  it('answers 429 problem+json with Retry-After, spares other keys, and records nothing it refused', async () => {
    service = await startTestService({ rateLimitPerSecond: LIMIT });
    const parent = await openParent(service, { credits: 100_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 50_000 });
    const subKey = await issueSubAccountKey(service, parent, subAccountId);
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;

    const responses = await burstUntilLimited(() =>
      service.api.post(usagePath, { idempotencyKey: uniqueId('u'), credits: 1 }, parent.key),
    );
    const limited = responses.filter((response) => response.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    for (const response of limited) {
      expectProblem(response, 429, 'rate_limited');
      expect(response.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    }
    const accepted = responses.filter((response) => response.status === 201).length;
    expect(accepted + limited.length).toBe(responses.length);

    // The sub-account's own key has its own allowance, untouched by the parent key's flood.
    const own = await service.api.post(
      usagePath,
      { idempotencyKey: uniqueId('u'), credits: 1 },
      subKey.secret,
    );
    expect(own.status).toBe(201);

    const usageEvents = (await readLedger(service, parent.id)).filter(
      (event) => event.type === 'UsageRecorded',
    );
    expect(usageEvents).toHaveLength(accepted + 1);
  });

  it('counts requests without credentials by IP and never limits /health', async () => {
    service = await startTestService({ rateLimitPerSecond: LIMIT });
    const anonymous = await burstUntilLimited(() => service.api.get('/v1/parents/nobody'));
    const limited = anonymous.filter((response) => response.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    for (const response of limited) expectProblem(response, 429, 'rate_limited');
    expect(anonymous.filter((r) => r.status !== 429).every((r) => r.status === 401)).toBe(true);

    const health = await Promise.all(Array.from({ length: LIMIT * 3 }, () => service.api.get('/health')));
    expect(health.map((response) => response.status).filter((status) => status === 429)).toEqual([]);
  });

  it('by default lets 200 racing requests from one key through', async () => {
    service = await startTestService();
    const parent = await openParent(service, { credits: 100_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 50_000 });
    const usagePath = `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    const responses = await Promise.all(
      Array.from({ length: 200 }, () =>
        service.api.post(usagePath, { idempotencyKey: uniqueId('u'), credits: 1 }, parent.key),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(200).fill(201));
  });

  it('is configured by SUBLEDGER_RATE_LIMIT_PER_SECOND, 0 turning it off', () => {
    expect(loadConfig({}).rateLimitPerSecond).toBe(20_000);
    expect(loadConfig({ SUBLEDGER_RATE_LIMIT_PER_SECOND: '0' }).rateLimitPerSecond).toBe(0);
    expect(loadConfig({ SUBLEDGER_RATE_LIMIT_PER_SECOND: '50' }).rateLimitPerSecond).toBe(50);
    expect(() => loadConfig({ SUBLEDGER_RATE_LIMIT_PER_SECOND: 'many' })).toThrow(
      /SUBLEDGER_RATE_LIMIT_PER_SECOND/,
    );
  });
});
