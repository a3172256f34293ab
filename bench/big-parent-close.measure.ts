/*
 * One-off measurement of a close of one parent with many sub-accounts (issue #13, item 4): the
 * ledger's own application (LedgerService, the command processor, the close handler and its chunk
 * writer) over the real client against the embedded store, without HTTP or the read side. Prints
 * the close's time, the bytes written, the time to read the issued invoices back and to replay them.
 *
 *   npx ts-node --transpile-only bench/big-parent-close.measure.ts [--subs 100000] [--to-parent 20000]
 *
 * `--subs` sub-accounts in all, `--to-parent` of them billed to the parent (one consolidated invoice
 * with that many sections), the others each on an invoice of their own; one usage record each.
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { EventStoreDBClient, START } from '@eventstore/db-client';
import { startEmbeddedEventStore } from '../src/embedded-eventstore';
import { Clock } from '../src/config/clock';
import type { RequestContext } from '../src/auth/request-context';
import {
  CloseBillingPeriodCommand,
  CloseBillingPeriodHandler,
} from '../src/ledger/application/commands/close-billing-period.handler';
import { InvoiceChunkWriter } from '../src/ledger/application/invoice-chunk.writer';
import { createLedgerProcessor, LedgerService } from '../src/ledger/application/ledger.service';
import { readIssuedInvoices } from '../src/billing/application/issued-invoice.reader';
import { replayPeriod } from '../src/billing/application/period-replay';
import type { LedgerState } from '../src/ledger/domain';

const { values } = parseArgs({
  options: { subs: { type: 'string', default: '100000' }, 'to-parent': { type: 'string', default: '20000' } },
});
const SUBS = Number(values.subs);
const TO_PARENT = Number(values['to-parent']);
const PARENT = 'bigco';
const operator: RequestContext = {
  principal: { role: 'operator' },
  requestId: 'measure',
  correlationId: 'measure',
};
const mib = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);

async function main(): Promise<void> {
  const server = await startEmbeddedEventStore({ host: '127.0.0.1', port: 0, memory: true });
  const client = EventStoreDBClient.connectionString(server.connectionString);
  const clock = new Clock(new Date('2026-10-05T10:00:00Z'));
  const processor = createLedgerProcessor(client, { exclusiveWriter: true });
  const ledger = new LedgerService(processor, clock);
  const now = () => clock.now();

  await ledger.execute(operator, PARENT, {
    type: 'OpenParentAccount',
    data: {
      parentId: PARENT,
      name: 'Big Co',
      currency: 'EUR',
      creditPrice: '0.001',
      parentKey: { keyId: 'k-parent', prefix: 'sl_p', secretHash: 'hash' },
    },
    metadata: { now: now() },
  });
  await ledger.execute(operator, PARENT, {
    type: 'PurchaseCredits',
    data: { credits: SUBS * 1_000 },
    metadata: { now: now() },
  });
  const built = performance.now();
  for (let from = 0; from < SUBS; from += 1_000) {
    const ids = Array.from(
      { length: Math.min(1_000, SUBS - from) },
      (_, i) => `s${String(from + i).padStart(6, '0')}`,
    );
    const at = now();
    const created = await Promise.all(
      ids.map((subAccountId, i) =>
        ledger.execute(operator, PARENT, {
          type: 'CreateSubAccount',
          data: {
            subAccountId,
            name: `Client ${subAccountId}`,
            billingModel: from + i < TO_PARENT ? 'bill-to-parent' : 'bill-to-sub-account',
            quota: 1_000,
          },
          metadata: { now: at },
        }),
      ),
    );
    if (created.length !== ids.length) throw new Error('creation failed');
    await Promise.all(
      ledger.recordUsageBatch(
        operator,
        PARENT,
        ids.map((subAccountId, i) => ({
          subAccountId,
          idempotencyKey: `u-${subAccountId}`,
          credits: 1 + (i % 97),
          meter: i % 2 ? 'api' : 'cdn',
        })),
      ),
    );
  }
  console.log(
    `${SUBS} sub-accounts (${TO_PARENT} billed to the parent) with usage in ${((performance.now() - built) / 1000).toFixed(1)} s`,
  );

  clock.notBefore(new Date('2026-11-02T09:00:00Z'));
  const handler = new CloseBillingPeriodHandler(ledger, new InvoiceChunkWriter(client));
  const rssBefore = process.memoryUsage().rss;
  const closeStarted = performance.now();
  await handler.execute(new CloseBillingPeriodCommand(operator, PARENT, { period: '2026-10' }));
  const closeMs = performance.now() - closeStarted;
  const rssAfter = process.memoryUsage().rss;

  const { result: closing } = await ledger.read(operator, PARENT, (state: LedgerState) =>
    state.closings.get('2026-10'),
  );
  if (!closing?.invoices) throw new Error('the close was not committed through ledgerinvoices-');
  let invoiceBytes = 0;
  let events = 0;
  for await (const resolved of client.readStream(closing.invoices.stream, { fromRevision: START })) {
    if (!resolved.event) continue;
    invoiceBytes += Buffer.byteLength(JSON.stringify(resolved.event.data));
    events++;
  }
  const readStarted = performance.now();
  const invoices = await readIssuedInvoices(client, PARENT, closing);
  const readMs = performance.now() - readStarted;
  const replayStarted = performance.now();
  const replay = await replayPeriod(client, PARENT, '2026-10', {
    now: now(),
    lastRevision: closing.revision,
  });
  const replayMs = performance.now() - replayStarted;

  const summary = {
    subAccounts: SUBS,
    billedToParent: TO_PARENT,
    invoices: invoices.length,
    closeMs: Math.round(closeMs),
    invoiceBytes,
    invoiceEvents: events,
    chunks: closing.invoices.chunks.length,
    closingEventBytes: Buffer.byteLength(
      JSON.stringify({ period: '2026-10', closedAt: closing.closedAt, invoices: closing.invoices }),
    ),
    readBackMs: Math.round(readMs),
    replayMs: Math.round(replayMs),
    replayMatches: replay.matches,
    rssMiBBeforeClose: Number(mib(rssBefore)),
    rssMiBAfterClose: Number(mib(rssAfter)),
  };
  console.log(JSON.stringify(summary, null, 2));
  await processor.close();
  await client.dispose();
  await server.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
