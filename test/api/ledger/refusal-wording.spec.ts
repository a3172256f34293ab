import {
  createSubAccount,
  expectProblem,
  expectStatus,
  openParent,
  uniqueId,
  type OpenedParent,
} from '../../support/ledger-fixtures';
import { startTestService, type TestService } from '../../support/service';

/*
 * One refusal, one wording: a usage record refused alone (POST …/usage) and inside a batch
 * (POST …/usage/batch) answers the same type, title, status, code and detail, since both go through
 * the one error mapper at the HTTP edge. Only `instance` (and the single route's requestId) differ.
 */

describe('a usage refusal reads the same on the single and the batch route', () => {
  let service: TestService;
  let parent: OpenedParent;
  let subId: string;
  let closedId: string;

  beforeAll(async () => {
    service = await startTestService();
    parent = await openParent(service, { credits: 100 });
    subId = await createSubAccount(service, parent, { quota: 10 });
    closedId = await createSubAccount(service, parent, { quota: 0 });
    expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/sub-accounts/${closedId}/close`,
        undefined,
        parent.key,
      ),
      200,
    );
    const used = { idempotencyKey: 'used-once', credits: 1 };
    expectStatus(
      await service.api.post(`/v1/parents/${parent.id}/sub-accounts/${subId}/usage`, used, parent.key),
      201,
    );
  });

  afterAll(async () => {
    await service?.close();
  });

  it.each([
    ['more credits than remain', () => subId, { credits: 50 }, 409, 'insufficient_quota'],
    [
      'a reused idempotency key with another payload',
      () => subId,
      { idempotencyKey: 'used-once', credits: 2 },
      409,
      'idempotency_conflict',
    ],
    ['a closed sub-account', () => closedId, { credits: 1 }, 409, 'sub_account_closed'],
    ['a sub-account that does not exist', () => 'nobody-here', { credits: 1 }, 404, 'not_found'],
  ])('%s', async (_name, target, fields, status, code) => {
    const record = { idempotencyKey: uniqueId('k'), ...fields };
    const single = await service.api.post(
      `/v1/parents/${parent.id}/sub-accounts/${target()}/usage`,
      record,
      parent.key,
    );
    expectProblem(single, status, code);

    const batch = expectStatus(
      await service.api.post(
        `/v1/parents/${parent.id}/usage/batch`,
        { records: [{ subAccountId: target(), ...record }] },
        parent.key,
      ),
      200,
    );
    const [result] = batch.body.results as { status: number; error: Record<string, unknown> }[];
    const { instance: _single, requestId: _id, ...alone } = single.body as Record<string, unknown>;
    const { instance, ...inBatch } = result.error;
    expect(result.status).toBe(status);
    expect(inBatch).toEqual(alone);
    expect(instance).toBe(`/v1/parents/${parent.id}/usage/batch#0`);
  });
});
