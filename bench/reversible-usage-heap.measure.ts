/*
 * One-off measurement (issue #14): the heap one parent's ledger state keeps per usage record. Folds
 * RECORDS usage records (one sub-account, unique keys, one minute apart: all within the 35 days) into
 * one state, with a forced GC before and after, then lets memory drop what the indexes hold
 * (`forgetIndexedUsageKeys`, and `forgetIndexedReversibleUsage` where the build has it) as the
 * command processor's prepare does once the projections have caught up, and measures again.
 *
 *   node --expose-gc -r ts-node/register/transpile-only bench/reversible-usage-heap.measure.ts [--records 200000]
 */
import { parseArgs } from 'node:util';
import * as domain from '../src/ledger/domain';
import type { LedgerCommand, LedgerState } from '../src/ledger/domain';

const { values } = parseArgs({ options: { records: { type: 'string', default: '200000' } } });
const RECORDS = Number(values.records);
const START = Date.parse('2026-10-01T00:00:00Z');
const command = (type: string, data: Record<string, unknown>, at: number) =>
  ({ type, data, metadata: { now: new Date(at) } }) as unknown as LedgerCommand;

function gc(): number {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with node --expose-gc');
  for (let n = 0; n < 3; n++) collect();
  return process.memoryUsage().heapUsed;
}

function fold(state: LedgerState, next: LedgerCommand): void {
  for (const event of domain.decideWithResult(next, state).events) domain.evolve(state, event);
}

const state = domain.initialLedgerState();
fold(
  state,
  command(
    'OpenParentAccount',
    {
      parentId: 'heap',
      name: 'Heap',
      currency: 'EUR',
      creditPrice: '0.001',
      parentKey: { keyId: 'k', prefix: 'p', secretHash: 'h' },
    },
    START,
  ),
);
fold(state, command('PurchaseCredits', { credits: RECORDS * 10 }, START));
fold(
  state,
  command('CreateSubAccount', { subAccountId: 's1', name: 'S', billingModel: 'bill-to-parent' }, START),
);
fold(state, command('AllocateQuota', { subAccountId: 's1', credits: RECORDS * 10 }, START));
const before = gc();
for (let n = 0; n < RECORDS; n++) {
  const at = START + 60_000 * (n + 1);
  fold(
    state,
    command(
      'RecordUsage',
      {
        subAccountId: 's1',
        usageId: `u_${n.toString().padStart(32, '0')}`,
        idempotencyKey: `key-${n}`,
        credits: 1,
      },
      at,
    ),
  );
}
const folded = gc();
domain.forgetIndexedUsageKeys(state, state.lastRevision);
const afterKeys = gc();
const forgetReversible = (domain as { forgetIndexedReversibleUsage?: (s: LedgerState, r: number) => void })
  .forgetIndexedReversibleUsage;
forgetReversible?.(state, state.lastRevision);
const afterBoth = gc();
const perRecord = (bytes: number) => (bytes / RECORDS).toFixed(0);
console.log(
  JSON.stringify({
    records: RECORDS,
    bytesPerRecordFolded: perRecord(folded - before),
    bytesPerRecordKeysIndexed: perRecord(afterKeys - before),
    bytesPerRecordBothIndexed: forgetReversible ? perRecord(afterBoth - before) : null,
    snapshotBytesPerRecord: (JSON.stringify(domain.toSnapshot(state)).length / RECORDS).toFixed(1),
    stillHeld: state.subAccounts.size,
  }),
);
