import { randomUUID } from 'node:crypto';
import { jsonEvent, type EventData, type EventStoreDBClient, type JSONType } from '@eventstore/db-client';
import type { ActorType, LedgerEvent, LedgerEventMetadata } from '../../src/ledger/domain/ledger.events';

type Balances = { quota: number; used: number };

/**
 * Appends ledger-shaped events straight to `ledger-<parentId>` with the client, keeping the balances
 * the write side would state, so projection tests need neither the HTTP layer nor the decider. Events
 * are queued and appended together by `flush`, which returns the append's commit position.
 */
export class LedgerWriter {
  readonly streamName: string;
  private readonly queued: EventData[] = [];
  private purchased = 0;
  private allocated = 0;
  private used = 0;
  private readonly subs = new Map<string, Balances>();

  constructor(
    private readonly client: EventStoreDBClient,
    readonly parentId: string,
    private readonly actor: { type: ActorType; id: string } = { type: 'parent', id: parentId },
  ) {
    this.streamName = `ledger-${parentId}`;
  }

  open(at: string): this {
    return this.push(
      {
        type: 'ParentAccountOpened',
        data: {
          parentId: this.parentId,
          name: 'Parent',
          currency: 'EUR',
          creditPrice: '0.001',
          openedAt: at,
        },
      },
      at,
    );
  }

  purchase(credits: number, at: string): this {
    this.purchased += credits;
    return this.push(
      {
        type: 'CreditsPurchased',
        data: { credits, reference: `po-${credits}`, purchasedAt: at, balancesAfter: { pool: this.pool() } },
      },
      at,
    );
  }

  createSubAccount(subAccountId: string, at: string): this {
    this.subs.set(subAccountId, { quota: 0, used: 0 });
    return this.push(
      {
        type: 'SubAccountCreated',
        data: {
          subAccountId,
          name: subAccountId,
          region: null,
          billingModel: 'bill-to-parent',
          creditPrice: '0.002',
          createdAt: at,
        },
      },
      at,
    );
  }

  allocate(subAccountId: string, credits: number, at: string): this {
    this.sub(subAccountId).quota += credits;
    this.allocated += credits;
    return this.push(
      {
        type: 'QuotaAllocated',
        data: { subAccountId, credits, reason: 'allocation', balancesAfter: this.after(subAccountId) },
      },
      at,
    );
  }

  returnCredits(subAccountId: string, credits: number, at: string): this {
    this.sub(subAccountId).quota -= credits;
    this.allocated -= credits;
    return this.push(
      {
        type: 'CreditsReturned',
        data: { subAccountId, credits, reason: 'return', balancesAfter: this.after(subAccountId) },
      },
      at,
    );
  }

  use(
    subAccountId: string,
    credits: number,
    at: string,
    opts: { meter?: string; occurredAt?: string } = {},
  ): this {
    this.sub(subAccountId).used += credits;
    this.used += credits;
    const usageId = randomUUID();
    return this.push(
      {
        type: 'UsageRecorded',
        data: {
          subAccountId,
          usageId,
          idempotencyKey: `key-${usageId}`,
          credits,
          meter: opts.meter ?? 'default',
          occurredAt: opts.occurredAt ?? at,
          billingPeriod: (opts.occurredAt ?? at).slice(0, 7),
          late: false,
          recordedAt: at,
          fingerprint: 'f',
          balancesAfter: this.after(subAccountId),
        },
      },
      at,
    );
  }

  close(subAccountId: string, at: string): this {
    const sub = this.sub(subAccountId);
    const returnedCredits = sub.quota - sub.used;
    sub.quota = sub.used;
    this.allocated -= returnedCredits;
    return this.push(
      {
        type: 'SubAccountClosed',
        data: { subAccountId, closedAt: at, returnedCredits, balancesAfter: this.after(subAccountId) },
      },
      at,
    );
  }

  /** Appends everything queued in one append; returns its commit position (the read-your-writes token). */
  async flush(): Promise<bigint> {
    const events = this.queued.splice(0);
    const result = await this.client.appendToStream(this.streamName, events);
    return result.position!.commit;
  }

  private sub(subAccountId: string): Balances {
    const sub = this.subs.get(subAccountId);
    if (!sub) throw new Error(`no sub-account ${subAccountId}`);
    return sub;
  }

  private pool() {
    return {
      purchased: this.purchased,
      allocated: this.allocated,
      available: this.purchased - this.allocated,
      used: this.used,
    };
  }

  private after(subAccountId: string) {
    const sub = this.sub(subAccountId);
    return {
      subAccount: { quota: sub.quota, used: sub.used, remaining: sub.quota - sub.used },
      pool: this.pool(),
    };
  }

  private push(event: Pick<LedgerEvent, 'type' | 'data'>, recordedAt: string): this {
    const metadata: LedgerEventMetadata = {
      $correlationId: `corr-${this.queued.length}-${randomUUID()}`,
      $causationId: randomUUID(),
      actor: this.actor,
      requestId: randomUUID(),
      schemaVersion: 1,
      recordedAt,
    };
    this.queued.push(
      jsonEvent({
        id: randomUUID(),
        type: event.type,
        data: event.data as JSONType,
        metadata: metadata as JSONType,
      }),
    );
    return this;
  }
}
