import { initialLedgerState, type UsageReceipt } from '../domain';
import { useCredits } from '../domain/testing/ledger-fixtures';
import { LedgerRequest } from './ledger-request';
import { prepareUsageKeys, type UsageKeyIndex } from './usage-key-index';

/*
 * The ledger's `prepare` may run twice on one batch: ahead of its turn, while the batch before it
 * appends, and again just before it is decided (stream.worker.ts). The second call keeps an answer
 * that still reaches as far as memory has dropped keys, and looks up again once it does not.
 */

/** An index whose head the test moves, counting lookups. */
function movingIndex() {
  const counts = { head: 10, lookups: 0 };
  const index: UsageKeyIndex = {
    lookup: () => {
      counts.lookups++;
      return Promise.resolve({ indexedThrough: counts.head, receipts: new Map<string, UsageReceipt>() });
    },
  };
  return Object.assign(counts, { index });
}

/** A prepare over a fresh state, and a way to run it on a batch as the worker would. */
function preparing(index: UsageKeyIndex) {
  const prepare = prepareUsageKeys(index);
  const state = initialLedgerState();
  const run = (commands: LedgerRequest<unknown>[]) =>
    prepare({ streamName: 'ledger-acme', state, revision: 20n, commands });
  return { state, run };
}

function usageBatch() {
  const requests = [useCredits('sub-1', 'key-1', 3), useCredits('sub-2', 'key-2', 4)].map((command) =>
    LedgerRequest.usage(null, command),
  );
  return { requests, commands: requests };
}

describe('the ledger prepare, run ahead and again', () => {
  it('keeps the answer fetched ahead when it still reaches as far as memory has dropped', async () => {
    const index = movingIndex();
    const { state, run } = preparing(index.index);
    const { requests, commands } = usageBatch();

    await run(commands);
    index.head = 15;
    await run(commands);

    expect(index.lookups).toBe(1);
    expect(state.usageKeys.indexedThrough).toBe(10);
    for (const request of requests) expect(request.usageKeys).toMatchObject({ indexedThrough: 10 });
  });

  it('looks up again once memory has dropped keys past the answer (a later lookup, a newer snapshot)', async () => {
    const index = movingIndex();
    const { run } = preparing(index.index);
    const { requests, commands } = usageBatch();

    await run(commands);
    // Another batch's lookup let memory drop through 15: keys 11..15 are in neither the answer nor memory.
    index.head = 15;
    await run(usageBatch().commands);
    await run(commands);

    expect(index.lookups).toBe(3);
    for (const request of requests) expect(request.usageKeys).toMatchObject({ indexedThrough: 15 });
  });

  it('looks up again after a failed lookup ahead', async () => {
    const index = movingIndex();
    let fail = true;
    const flaky: UsageKeyIndex = {
      lookup: (parentId, keys) =>
        fail ? Promise.reject(new Error('index down')) : index.index.lookup(parentId, keys),
    };
    const { run } = preparing(flaky);
    const { requests, commands } = usageBatch();

    await run(commands);
    expect(requests[0].usageKeys).toHaveProperty('failed');
    fail = false;
    await run(commands);

    expect(index.lookups).toBe(1);
    for (const request of requests) expect(request.usageKeys).toMatchObject({ indexedThrough: 10 });
  });
});
