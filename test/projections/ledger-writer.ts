import { randomUUID } from 'node:crypto';
import type { EventData, EventStoreDBClient } from '@eventstore/db-client';
import type { LedgerCommand, LedgerState } from '../../src/ledger/domain';
import { LedgerLog } from '../../bench/support/ledger-log';

/**
 * Writes to `ledger-<parentId>` exactly what the service would for the same commands: each call is a
 * command decided by the ledger's own decider (src/ledger/domain) at the instant given, folded into
 * the writer's state, and converted with the service's own `toEventData` and metadata envelope (the
 * bench's `LedgerLog` does the deciding, so bench and tests write alike). So projection tests read real
 * events (balances after, fingerprints, periods, key events) without the HTTP layer, and a history the
 * ledger would refuse cannot be written: the decider throws, as it would answer the request.
 * Events are queued and appended together by `flush`, which returns the append's commit position.
 */
export class LedgerWriter {
  readonly streamName: string;
  private readonly log: LedgerLog;
  private readonly queued: EventData[] = [];

  constructor(
    private readonly client: EventStoreDBClient,
    readonly parentId: string,
  ) {
    this.log = new LedgerLog(parentId);
    this.streamName = this.log.streamName;
  }

  /** The ledger's state after every command so far, as the service's processor would hold it. */
  get state(): LedgerState {
    return this.log.state;
  }

  /** ParentAccountOpened and the parent key's ApiKeyIssued (as the operator). */
  open(at: string): this {
    return this.decide(
      {
        type: 'OpenParentAccount',
        data: {
          parentId: this.parentId,
          name: 'Parent',
          currency: 'EUR',
          creditPrice: '0.001',
          parentKey: { keyId: randomUUID(), prefix: 'sl_p_test', secretHash: `sha256:${randomUUID()}` },
        },
        metadata: { now: new Date(at) },
      },
      'operator',
    );
  }

  /** CreditsPurchased into the pool (as the operator). */
  purchase(credits: number, at: string): this {
    return this.decide(
      {
        type: 'PurchaseCredits',
        data: { credits, reference: `po-${credits}` },
        metadata: { now: new Date(at) },
      },
      'operator',
    );
  }

  createSubAccount(subAccountId: string, at: string): this {
    return this.decide({
      type: 'CreateSubAccount',
      data: { subAccountId, name: subAccountId, billingModel: 'bill-to-parent', creditPrice: '0.002' },
      metadata: { now: new Date(at) },
    });
  }

  allocate(subAccountId: string, credits: number, at: string): this {
    return this.decide({
      type: 'AllocateQuota',
      data: { subAccountId, credits },
      metadata: { now: new Date(at) },
    });
  }

  returnCredits(subAccountId: string, credits: number, at: string): this {
    return this.decide({
      type: 'ReturnCredits',
      data: { subAccountId, credits },
      metadata: { now: new Date(at) },
    });
  }

  use(
    subAccountId: string,
    credits: number,
    at: string,
    opts: { meter?: string; occurredAt?: string } = {},
  ): this {
    return this.decide({
      type: 'RecordUsage',
      data: {
        subAccountId,
        usageId: randomUUID(),
        idempotencyKey: `key-${randomUUID()}`,
        credits,
        ...(opts.meter === undefined ? {} : { meter: opts.meter }),
        ...(opts.occurredAt === undefined ? {} : { occurredAt: opts.occurredAt }),
      },
      metadata: { now: new Date(at) },
    });
  }

  /** An ApiKeyIssued for a sub-account's key, secret hash and all (the feed must hide it). */
  issueKey(subAccountId: string, keyId: string, secretHash: string, at: string): this {
    return this.decide({
      type: 'IssueApiKey',
      data: { keyId, prefix: `sl_s_${keyId}`, secretHash, subAccountId },
      metadata: { now: new Date(at) },
    });
  }

  close(subAccountId: string, at: string): this {
    return this.decide({ type: 'CloseSubAccount', data: { subAccountId }, metadata: { now: new Date(at) } });
  }

  /** The queued events, taken out instead of appended (to write real ledger events somewhere else). */
  take(): EventData[] {
    return this.queued.splice(0);
  }

  /** Appends everything queued in one append; returns its commit position (the read-your-writes token). */
  async flush(): Promise<bigint> {
    const events = this.queued.splice(0);
    const result = await this.client.appendToStream(this.streamName, events);
    return result.position!.commit;
  }

  private decide(command: LedgerCommand, actor: 'operator' | 'parent' = 'parent'): this {
    this.queued.push(...this.log.decide(command, actor));
    return this;
  }
}
