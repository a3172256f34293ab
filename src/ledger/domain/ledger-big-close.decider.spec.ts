import type { BillingPeriodClosed, LedgerEvent } from './ledger.events';
import type { CloseBillingPeriod, LedgerCommand } from './ledger.commands';
import { decide, planBillingPeriodClose } from './ledger.decider';
import {
  chunkDigestOf,
  commitDigestOf,
  invoiceChunksOf,
  invoiceRecordsOf,
  invoicesFromRecords,
  MAX_CLOSE_APPEND_BYTES,
  MAX_INVOICE_EVENT_BYTES,
  METADATA_ALLOWANCE_BYTES,
  type InvoiceChunk,
} from './ledger.invoices';
import { fromSnapshot, toSnapshot } from './ledger.snapshot';
import { evolve, initialLedgerState, type LedgerState } from './ledger.state';
import {
  command,
  createSub,
  historyOf,
  openParent,
  purchase,
  spec,
  useCredits,
} from './testing/ledger-fixtures';

const october = (day: number) => new Date(`2026-10-${String(day).padStart(2, '0')}T12:00:00.000Z`);
const closedAt = new Date('2026-11-01T00:00:00.000Z');

// 2,000 sub-accounts that pay their own invoices and 1,500 billed to the parent, each with usage on
// two meters: some 2,000 invoices (about 1.2 MB, more than one append) and a consolidated invoice
// with 1,500 sections (about 500 KB, more than one event).
const OWN = 2_000;
const TO_PARENT = 1_500;
const subId = (n: number) => `s${String(n).padStart(5, '0')}`;

function bigOctober() {
  const commands: LedgerCommand[] = [openParent(october(1)), purchase(100_000_000, october(1))];
  for (let n = 0; n < OWN + TO_PARENT; n++) {
    const billingModel = n < OWN ? 'bill-to-sub-account' : 'bill-to-parent';
    commands.push(createSub(subId(n), { billingModel, quota: 1_000 }, october(2)));
    commands.push(useCredits(subId(n), `k${n}-a`, 10 + (n % 7), { meter: 'api' }, october(3)));
    commands.push(useCredits(subId(n), `k${n}-b`, 3, { meter: 'storage' }, october(3)));
  }
  return historyOf(...commands);
}

const history = bigOctober();
const stateAfter = (events: readonly LedgerEvent[]): LedgerState =>
  events.reduce(evolve, initialLedgerState());

/** Where an application would have written the chunks: back to back from `from`. */
function written(
  chunks: readonly InvoiceChunk[],
  from = 0,
): NonNullable<CloseBillingPeriod['data']['invoices']> {
  let next = from;
  const refs = chunks.map((chunk) => {
    const ref = { firstRevision: next, lastRevision: next + chunk.records.length - 1, digest: chunk.digest };
    next += chunk.records.length;
    return ref;
  });
  return { stream: 'ledgerinvoices-acme', firstRevision: from, lastRevision: next - 1, chunks: refs };
}

const closeWith = (invoices?: CloseBillingPeriod['data']['invoices'], now = closedAt) =>
  command('CloseBillingPeriod', { period: '2026-10', ...(invoices ? { invoices } : {}) }, now);

describe('ledger decider: a close whose invoices do not fit one append', () => {
  const plan = planBillingPeriodClose(stateAfter(history), '2026-10', closedAt);
  const records = invoiceRecordsOf(plan.invoices);
  const chunks = invoiceChunksOf(records);

  it('is refused inline, so the application writes the invoices to their own stream first', () => {
    expect(plan.fitsOneAppend).toBe(false);
    expect(plan.invoices).toHaveLength(OWN + 1);
    spec
      .given(history)
      .when(closeWith())
      .thenFails('invoices_exceed_one_append', /more than one append/);
  });

  it('cuts the invoices into appends under the limit, the consolidated one into parts, and puts them back', () => {
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) {
      const bytes = chunk.records.reduce((sum, entry) => sum + entry.bytes + METADATA_ALLOWANCE_BYTES, 0);
      expect(bytes).toBeLessThanOrEqual(MAX_CLOSE_APPEND_BYTES);
    }
    const parts = records.filter((entry) => entry.event.type === 'InvoicePartIssued');
    expect(parts.length).toBeGreaterThan(1);
    for (const entry of records) expect(entry.bytes).toBeLessThanOrEqual(MAX_INVOICE_EVENT_BYTES);
    // Read back through JSON, as the store gives them: the same invoices, the same digests.
    const readBack = chunks.map((chunk) =>
      chunk.records.map((entry) => ({ type: entry.event.type, data: JSON.parse(entry.json) })),
    );
    expect(readBack.map((events) => chunkDigestOf(events))).toEqual(chunks.map((chunk) => chunk.digest));
    expect(invoicesFromRecords(readBack.flat())).toEqual(plan.invoices);
  });

  it('commits exactly the chunks that hold what it would issue, with their digests', () => {
    const events = decide(closeWith(written(chunks, 7)), stateAfter(history));
    expect(events).toHaveLength(1);
    const closed = events[0] as BillingPeriodClosed & { metadata?: unknown };
    expect(closed.type).toBe('BillingPeriodClosed');
    expect(closed.metadata).toEqual({ schemaVersion: 2 });
    expect(closed.data).toEqual({
      period: '2026-10',
      closedAt: closedAt.toISOString(),
      invoices: {
        stream: 'ledgerinvoices-acme',
        firstRevision: 7,
        lastRevision: 7 + records.length - 1,
        count: OWN + 1,
        events: records.length,
        digest: commitDigestOf(chunks.map((chunk) => chunk.digest)),
        chunks: written(chunks, 7).chunks.map((ref, i) => ({
          ...ref,
          firstInvoiceId: chunks[i].firstInvoiceId,
          lastInvoiceId: chunks[i].lastInvoiceId,
        })),
      },
    });
  });

  it('folds a committed close: the period is closed and the next invoice numbers follow its count', () => {
    const committed = decide(closeWith(written(chunks)), stateAfter(history));
    const state = stateAfter([...history, ...committed]);
    expect(state.closedPeriods.has('2026-10')).toBe(true);
    expect(state.invoicesIssued).toBe(OWN + 1);
    expect(state.closings.get('2026-10')?.invoices?.count).toBe(OWN + 1);
    // A snapshot keeps where the invoices are and how many were issued.
    const restored = fromSnapshot(JSON.parse(JSON.stringify(toSnapshot(state))));
    expect(restored.closings.get('2026-10')).toEqual(state.closings.get('2026-10'));
    expect(restored.invoicesIssued).toBe(OWN + 1);
    const november = planBillingPeriodClose(state, '2026-11', new Date('2026-12-01T00:00:00Z'));
    expect(november.invoices[0].sequence).toBe(OWN + 2);
    spec
      .given([...history, ...committed])
      .when(closeWith(written(chunks), new Date('2026-11-02T00:00:00Z')))
      .thenFails('period_already_closed');
  });

  it('refuses chunks that no longer hold what it would issue: other digests, other usage, another instant', () => {
    const tampered = written(chunks);
    tampered.chunks[1] = { ...tampered.chunks[1], digest: `sha256:${'0'.repeat(64)}` };
    spec.given(history).when(closeWith(tampered)).thenFails('invoices_changed');
    const shifted = written(chunks);
    shifted.chunks[1] = { ...shifted.chunks[1], firstRevision: shifted.chunks[1].firstRevision + 1 };
    spec
      .given(history)
      .when(closeWith(shifted))
      .thenFails('invoices_changed', /wrong revisions/);
    const missing = written(chunks.slice(0, -1));
    spec.given(history).when(closeWith(missing)).thenFails('invoices_changed');
    // Usage of October recorded after the invoices were written changes them.
    const later = stateAfter(history);
    for (const event of decide(useCredits(subId(0), 'late-arrival', 1, {}, october(20)), later)) {
      evolve(later, event);
    }
    expect(() => decide(closeWith(written(chunks)), later)).toThrow(/invoices_changed/);
    spec
      .given(history)
      .when(closeWith(written(chunks), new Date(closedAt.getTime() + 1000)))
      .thenFails('invoices_changed');
  });
});
