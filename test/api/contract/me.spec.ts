import {
  createSubAccount,
  expectProblem,
  expectStatus,
  issueSubAccountKey,
  openParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/* GET /v1/me: any key asks who it is; a sub-account key also gets its credits left. */
jest.setTimeout(60_000);

describe('GET /v1/me', () => {
  let service: TestService;

  beforeAll(async () => {
    service = await startTestService();
  });

  afterAll(() => service?.close());

  it('tells the operator token its role and nothing else', async () => {
    const me = expectStatus(await service.api.get('/v1/me', service.operatorToken), 200);
    expect(me.body).toEqual({ role: 'operator', keyId: null, parent: null, subAccount: null });
  });

  it('tells a parent key its parent, and a sub-account key its sub-account with quota, used and remaining', async () => {
    const parent = await openParent(service, { credits: 1_000, name: 'Agency', currency: 'USD' });
    const sub = await createSubAccount(service, parent, { quota: 300, name: 'Brand' });
    const key = await issueSubAccountKey(service, parent, sub);
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${sub}/usage`,
        { idempotencyKey: 'me-1', credits: 120 },
        key.secret,
      ),
      201,
    );

    const asParent = expectStatus(await service.api.get('/v1/me', parent.key), 200);
    expect(asParent.body).toEqual({
      role: 'parent',
      keyId: parent.keyId,
      parent: { id: parent.id, name: 'Agency', currency: 'USD' },
      subAccount: null,
    });

    const asSub = expectStatus(await service.api.get('/v1/me', key.secret), 200);
    expect(asSub.body).toEqual({
      role: 'sub-account',
      keyId: key.id,
      parent: { id: parent.id, name: 'Agency', currency: 'USD' },
      subAccount: { id: sub, name: 'Brand', status: 'active', quota: 300, used: 120, remaining: 180 },
    });
  });

  it('answers 401 without a key, with an unknown one, and with a revoked one', async () => {
    expectProblem(await service.api.get('/v1/me'), 401);
    expectProblem(await service.api.get('/v1/me', 'not-a-key'), 401);
    const parent = await openParent(service, { credits: 100 });
    const sub = await createSubAccount(service, parent, { quota: 10 });
    const key = await issueSubAccountKey(service, parent, sub);
    expectStatus(await service.api.get('/v1/me', key.secret), 200);
    expectStatus(
      await service.api.delete(`/v1/parents/${parent.id}/sub-accounts/${sub}/api-keys/${key.id}`, parent.key),
      200,
      204,
    );
    expectProblem(await service.api.get('/v1/me', key.secret), 401);
  });
});
