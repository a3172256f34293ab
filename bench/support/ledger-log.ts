import { randomUUID } from 'node:crypto';
import type { EventData, EventStoreDBClient } from '@eventstore/db-client';
import {
  decideWithResult,
  evolve,
  initialLedgerState,
  ledgerStreamName,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerEventMetadata,
  type LedgerState,
  type NewApiKey,
} from '../../src/ledger/domain';
import { toEventData } from '../../src/event-store/command-processing/event-envelope';

/**
 * Ledger-shaped events made by the ledger's own decider, so the bench's logs hold exactly what the
 * service would have written for the same commands (balances after, fingerprints, periods, metadata):
 * projections and a cold service read them like any other history. Only the HTTP and command-queue
 * part of the write path is skipped, which is what makes a log of a million events quick to build.
 */
export class LedgerLog {
  readonly streamName: string;
  /** The ledger's state folded over every event made so far (the service's processor would cache this). */
  readonly state: LedgerState;
  private usageCount = 0;

  constructor(
    readonly parentId: string,
    state: LedgerState = initialLedgerState(),
  ) {
    this.streamName = ledgerStreamName(parentId);
    this.state = state;
  }

  /** Folds a ledger stream already in the store (say, one the service opened over HTTP). */
  static async load(
    client: EventStoreDBClient,
    parentId: string,
  ): Promise<{ log: LedgerLog; revision: bigint }> {
    const state = initialLedgerState();
    let revision = -1n;
    for await (const resolved of client.readStream(ledgerStreamName(parentId))) {
      const event = resolved.event!;
      evolve(state, { type: event.type, data: event.data } as LedgerEvent);
      revision = event.revision;
    }
    return { log: new LedgerLog(parentId, state), revision };
  }

  /** Credits used so far by a sub-account, to recognise a read model that has caught up. */
  usedBy(subAccountId: string): number {
    return this.state.subAccounts.get(subAccountId)?.used ?? NaN;
  }

  get subAccountIds(): string[] {
    return [...this.state.subAccounts.keys()];
  }

  /** A parent with its key, a pool and `subAccounts` sub-accounts of `quota` credits each. */
  open(subAccounts: number, quota: number, now = new Date(), parentKey?: NewApiKey): EventData[] {
    const commands: LedgerCommand[] = [
      {
        type: 'OpenParentAccount',
        data: {
          parentId: this.parentId,
          name: `Bench ${this.parentId}`,
          currency: 'EUR',
          creditPrice: '0.00099',
          parentKey: parentKey ?? { keyId: randomUUID(), prefix: 'bench', secretHash: 'sha256:none' },
        },
        metadata: { now },
      },
      { type: 'PurchaseCredits', data: { credits: subAccounts * quota }, metadata: { now } },
    ];
    for (let i = 0; i < subAccounts; i++) {
      commands.push({
        type: 'CreateSubAccount',
        data: { subAccountId: subAccountId(i), name: `Sub ${i}`, billingModel: 'bill-to-parent', quota },
        metadata: { now },
      });
    }
    return commands.flatMap((command) => this.decide(command, 'operator'));
  }

  /** `count` usage records of 1 credit, round-robin over the sub-accounts, each with a fresh key. */
  usage(count: number, now = new Date()): EventData[] {
    const subs = this.subAccountIds;
    const out: EventData[] = [];
    for (let i = 0; i < count; i++) {
      const n = this.usageCount++;
      out.push(
        ...this.decide(
          {
            type: 'RecordUsage',
            data: {
              subAccountId: subs[n % subs.length],
              usageId: randomUUID(),
              idempotencyKey: `seed-${n}`,
              credits: 1,
              meter: n % 3 === 0 ? 'images' : 'api-calls',
            },
            metadata: { now },
          },
          'parent',
        ),
      );
    }
    return out;
  }

  /**
   * One command decided by the ledger's decider on this log's state, its events folded in and returned
   * as the service would hand them to the client (its `toEventData` and metadata envelope). Throws the
   * decider's DomainError for a command the ledger would refuse, so no history it would refuse is made.
   */
  decide(command: LedgerCommand, actor: 'operator' | 'parent'): EventData[] {
    const { events } = decideWithResult(command, this.state);
    const requestId = randomUUID();
    const metadata: LedgerEventMetadata = {
      $correlationId: requestId,
      $causationId: requestId,
      actor: { type: actor, id: actor === 'operator' ? 'operator' : this.parentId },
      requestId,
      schemaVersion: 1,
      recordedAt: command.metadata.now.toISOString(),
    };
    // The service's own conversion, so the bench hands the client what the service hands it (the
    // command's envelope as already-encoded metadata bytes, among others).
    return events.map((event) => {
      evolve(this.state, event);
      return toEventData(event, metadata);
    });
  }
}

export function subAccountId(index: number): string {
  return `sub-${String(index).padStart(4, '0')}`;
}

/** Rough payload size of an event, to keep an append under EventStoreDB's 1 MiB request limit. */
export function approximateBytes(event: EventData): number {
  const metadata =
    event.metadata instanceof Uint8Array ? event.metadata.length : JSON.stringify(event.metadata).length;
  return JSON.stringify(event.data).length + metadata + event.type.length;
}
