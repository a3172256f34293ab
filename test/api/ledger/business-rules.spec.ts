import {
  createSubAccount,
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  ledgerRevision,
  openParent,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type ApiResponse, type TestService } from '../../support/service';

/*
 * Business rules and security of issue #11, each through real HTTP to the started service: who may set
 * prices, parent key rotation, the operator's reads, bounds of a quota set, pending terms, text a
 * person will see, body-less routes, prototype keys, repeats and the clock. "Nothing recorded" means
 * the parent's ledger stream kept its revision.
 */

const NOW = new Date('2026-10-15T12:00:00.000Z');

describe('business rules and security (issue #11)', () => {
  let service: TestService;
  let parent: OpenedParent;

  beforeAll(async () => {
    service = await startTestService({ now: NOW });
    parent = await openParent(service, { credits: 1_000_000 });
  });

  afterAll(async () => {
    await service?.close();
  });

  const parentPath = () => `/v1/parents/${parent.id}`;
  const subPath = (subId: string) => `${parentPath()}/sub-accounts/${subId}`;
  const operator = () => service.operatorToken;

  /** Runs `call` and checks the parent's ledger did not move. */
  async function recordsNothing(call: () => Promise<ApiResponse>): Promise<ApiResponse> {
    const before = await ledgerRevision(service, parent.id);
    const response = await call();
    expect(await ledgerRevision(service, parent.id)).toBe(before);
    return response;
  }

  /** The ledger moved: the call recorded at least one event. */
  async function records(call: () => Promise<ApiResponse>): Promise<ApiResponse> {
    const before = await ledgerRevision(service, parent.id);
    const response = await call();
    expect(await ledgerRevision(service, parent.id)).toBeGreaterThan(before);
    return response;
  }

  /** A body that is empty but announced as JSON, as some HTTP clients send on every request. */
  const emptyJson = (method: string, url: string, token: string) =>
    service.api.request(method, url, { token, body: '', headers: { 'content-type': 'application/json' } });

  describe('routes that take no body accept an empty one sent as application/json', () => {
    it('POST …/sub-accounts/{s}/api-keys', async () => {
      const subId = await createSubAccount(service, parent);
      const response = await records(() => emptyJson('POST', `${subPath(subId)}/api-keys`, parent.key));
      expectStatus(response, 201);
      expect(response.body.secret).toEqual(expect.any(String));
    });

    it('DELETE …/sub-accounts/{s}/api-keys/{k}', async () => {
      const subId = await createSubAccount(service, parent);
      const key = await issueSubAccountKey(service, parent, subId);
      const url = `${subPath(subId)}/api-keys/${key.id}`;
      expectStatus(await records(() => emptyJson('DELETE', url, parent.key)), 204);
      expectProblem(await service.api.get(subPath(subId), key.secret), 401, 'unauthorized');
    });

    it('POST …/sub-accounts/{s}/close', async () => {
      const subId = await createSubAccount(service, parent, { quota: 5 });
      const response = await records(() => emptyJson('POST', `${subPath(subId)}/close`, parent.key));
      expect(expectStatus(response, 200).body.status).toBe('closed');
    });

    it('GET routes too (fetch sends no body on a GET; the header alone)', async () => {
      const response = await service.api.request('GET', parentPath(), {
        token: parent.key,
        headers: { 'content-type': 'application/json' },
      });
      expectStatus(response, 200);
    });

    it('a route that needs a body answers an empty one like a missing one: 400 naming the field', async () => {
      const response = await recordsNothing(() => emptyJson('POST', `${parentPath()}/credits`, operator()));
      expectProblem(response, 400, 'validation_failed');
      expect(JSON.stringify(response.body.errors)).toContain('credits');
    });
  });

  describe('prototype keys are valid JSON that the API refuses', () => {
    it.each([
      ['attributes.__proto__', '{"idempotencyKey":"k-proto","credits":1,"attributes":{"__proto__":{}}}'],
      [
        'attributes.constructor.prototype',
        '{"idempotencyKey":"k-ctor","credits":1,"attributes":{"constructor":{"prototype":{}}}}',
      ],
    ])('usage with %s → 400 validation_failed, nothing recorded', async (_name, body) => {
      const subId = await createSubAccount(service, parent, { quota: 10 });
      const response = await recordsNothing(() =>
        service.api.request('POST', `${subPath(subId)}/usage`, { token: parent.key, body }),
      );
      expectProblem(response, 400, 'validation_failed');
    });
  });
});
