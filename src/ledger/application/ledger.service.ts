import { randomUUID } from 'node:crypto';
import { BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import type { Principal } from '../../auth/principal';
import type { RequestContext } from '../../auth/request-context';
import { Clock } from '../../config/clock';
import {
  CommandProcessor,
  type CommandOutcome,
  type CommandProcessorObserver,
  type EventMetadata,
} from '../../event-store/command-processing';
import {
  decide,
  ledgerStreamName,
  type ActorType,
  type ExpireCredits,
  type PurchaseCredits,
  type RenewRecurringAllocations,
  type ReversalResult,
  type ReverseUsage,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerEventMetadata,
  type LedgerState,
  type RecordUsage,
  type UsageResult,
} from '../domain';
import { LedgerRequest, ledgerRequestDecider, type KeyCheck, type LedgerRead } from './ledger-request';
import { prepareLedgerBatch, type ReversibleUsageIndex } from './reversible-usage-index';
import type { UsageKeyIndex } from './usage-key-index';

/** A command's answer with the read-your-writes token of its append. */
export type Executed<Result> = {
  readonly result: Result;
  readonly commitPosition: bigint | undefined;
  readonly eventCount: number;
  /** The clock instant the command was decided at. */
  readonly now: Date;
};

/** A usage record as a caller sends it: the service generates its `usageId`. */
export type UsageInput = Omit<RecordUsage['data'], 'usageId'>;

export const LEDGER_PROCESSOR = Symbol('LEDGER_PROCESSOR');

/** Answers are typed per request (`LedgerRequest.answer()`), so the processor's own result is `void`. */
export type LedgerProcessor = CommandProcessor<LedgerState, LedgerRequest<unknown>, LedgerEvent, void>;

/**
 * `exclusiveWriter`: the service started its embedded store itself, so no other process appends to its
 * ledgers and the cached states need no check of the stream's head. Against an external store several
 * instances may share the streams, and each read first catches up (docs/reliability.md).
 */
export function createLedgerProcessor(
  client: EventStoreDBClient,
  options: {
    observer?: CommandProcessorObserver;
    exclusiveWriter?: boolean;
    /** The idempotency-key index; without it every live key stays in memory (and in snapshots). */
    usageKeyIndex?: UsageKeyIndex;
    /** The reversible-usage index; without it 35 days of usage records stay in memory (and in snapshots). */
    reversibleUsageIndex?: ReversibleUsageIndex;
  } = {},
): LedgerProcessor {
  const prepare = prepareLedgerBatch(options.usageKeyIndex, options.reversibleUsageIndex);
  return new CommandProcessor({
    client,
    decider: ledgerRequestDecider,
    exclusiveWriter: options.exclusiveWriter ?? false,
    ...(options.observer ? { observer: options.observer } : {}),
    ...(prepare ? { prepare } : {}),
  });
}

/**
 * The ledger's one way to its command processor: the command handlers (`commands/`) hand it their
 * commands and the routes their reads. It stamps the event metadata of SPEC §3 and runs each through
 * the single command processor of the `ledger` category (one queue, one cached state and one append
 * at a time per parent).
 */
@Injectable()
export class LedgerService implements BeforeApplicationShutdown {
  constructor(
    @Inject(LEDGER_PROCESSOR) private readonly processor: LedgerProcessor,
    private readonly clock: Clock,
  ) {}

  /** A command stamped by its handler with `now()`; usage, which answers, has its own entry points. */
  execute(
    context: RequestContext,
    parentId: string,
    command: Exclude<LedgerCommand, RecordUsage>,
  ): Promise<Executed<null>> {
    const now = command.metadata.now;
    return this.run(
      parentId,
      LedgerRequest.command(keyCheckOf(context.principal), command),
      now,
      this.metadata(context, now),
    );
  }

  recordUsage(context: RequestContext, parentId: string, data: UsageInput): Promise<Executed<UsageResult>> {
    const now = this.clock.now();
    const command: RecordUsage = {
      type: 'RecordUsage',
      data: { ...data, usageId: newUsageId() },
      metadata: { now },
    };
    return this.run(
      parentId,
      LedgerRequest.usage(keyCheckOf(context.principal), command),
      now,
      this.metadata(context, now),
    );
  }

  /**
   * The records of one batch request, queued in order in the same tick so the processor decides them
   * together. They share the request's instant and one metadata envelope (encoded once for all their
   * events); each settles on its own, as if sent alone.
   */
  recordUsageBatch(
    context: RequestContext,
    parentId: string,
    records: readonly UsageInput[],
  ): Promise<Executed<UsageResult>>[] {
    const now = this.clock.now();
    const key = keyCheckOf(context.principal);
    const metadata = this.metadata(context, now);
    const commandMetadata = { now };
    return records.map((data) =>
      this.run(
        parentId,
        LedgerRequest.usage(key, {
          type: 'RecordUsage',
          data: { ...data, usageId: newUsageId() },
          metadata: commandMetadata,
        }),
        now,
        metadata,
      ),
    );
  }

  /** A purchase answers the lot it bought (SPEC §10). */
  purchaseCredits(
    context: RequestContext,
    parentId: string,
    data: PurchaseCredits['data'],
  ): Promise<Executed<{ lotId: string }>> {
    const now = this.clock.now();
    const command: PurchaseCredits = { type: 'PurchaseCredits', data, metadata: { now } };
    const request = LedgerRequest.decided(keyCheckOf(context.principal), command, (state) => {
      const events = decide(command, state);
      const [purchased] = events;
      return {
        events,
        result: { lotId: purchased.type === 'CreditsPurchased' ? (purchased.data.lotId ?? '') : '' },
      };
    });
    return this.run(parentId, request, now, this.metadata(context, now));
  }

  /** A usage reversal, with its own idempotency key per usage; the service generates its `reversalId`. */
  reverseUsage(
    context: RequestContext,
    parentId: string,
    data: Omit<ReverseUsage['data'], 'reversalId'>,
  ): Promise<Executed<ReversalResult>> {
    const now = this.clock.now();
    const command: ReverseUsage = {
      type: 'ReverseUsage',
      data: { ...data, reversalId: `rev_${randomUUID().replace(/-/g, '')}` },
      metadata: { now },
    };
    const request = LedgerRequest.reversal(keyCheckOf(context.principal), command);
    return this.run(parentId, request, now, this.metadata(context, now));
  }

  /**
   * The service's own timer (credit expiry, recurring allocations): recorded for the actor
   * `{type: service, id: scheduler}`, through the same queue as every request, so instances racing it
   * are decided one after the other and the second finds nothing to do.
   */
  runScheduled(
    parentId: string,
    command: ExpireCredits | RenewRecurringAllocations,
    correlationId: string,
  ): Promise<Executed<null>> {
    const now = command.metadata.now;
    const requestId = randomUUID();
    const metadata: LedgerEventMetadata = {
      $correlationId: correlationId,
      $causationId: requestId,
      actor: { type: 'service', id: 'scheduler' },
      requestId,
      schemaVersion: 1,
      recordedAt: now.toISOString(),
    };
    return this.run(parentId, LedgerRequest.command(null, command), now, metadata);
  }

  /** A read of the parent's current state, after every command queued before it. */
  read<Result>(
    context: RequestContext,
    parentId: string,
    read: LedgerRead<Result>,
  ): Promise<Executed<Result>> {
    return this.readAs(keyCheckOf(context.principal), parentId, read);
  }

  /** A read that checks the given key (or none) rather than the request's: for the auth guard. */
  readAs<Result>(
    key: KeyCheck | null,
    parentId: string,
    read: LedgerRead<Result>,
  ): Promise<Executed<Result>> {
    return this.run(parentId, LedgerRequest.read(key, read), this.clock.now());
  }

  now(): Date {
    return this.clock.now();
  }

  /** Before the event-store client is disposed (Nest runs every `before…` hook first). */
  beforeApplicationShutdown(): Promise<void> {
    return this.processor.close();
  }

  private run<Result>(
    parentId: string,
    request: LedgerRequest<Result>,
    now: Date,
    metadata?: EventMetadata,
  ): Promise<Executed<Result>> {
    return this.processor
      .execute(ledgerStreamName(parentId), request, metadata ? { metadata } : {})
      .then((outcome) => executed(request.answer(), outcome, now));
  }

  /** The envelope of SPEC §3 for events recorded for `context` at `now`. */
  metadata(context: RequestContext, now: Date): EventMetadata {
    const metadata: LedgerEventMetadata = {
      $correlationId: context.correlationId,
      $causationId: context.requestId,
      actor: actorOf(context.principal),
      requestId: context.requestId,
      schemaVersion: 1,
      recordedAt: now.toISOString(),
    };
    return context.principal.role === 'operator'
      ? metadata
      : { ...metadata, apiKeyId: context.principal.keyId };
  }
}

function keyCheckOf(principal: Principal): KeyCheck | null {
  switch (principal.role) {
    case 'operator':
      return null;
    case 'parent':
      return { keyId: principal.keyId, subAccountId: null };
    case 'sub-account':
      return { keyId: principal.keyId, subAccountId: principal.subAccountId };
  }
}

function executed<Result>(result: Result, outcome: CommandOutcome<void>, now: Date): Executed<Result> {
  return {
    result,
    commitPosition: outcome.commitPosition,
    eventCount: outcome.eventCount,
    now,
  };
}

export function newUsageId(): string {
  return `u_${randomUUID().replace(/-/g, '')}`;
}

/** Who an event was recorded for, from who the request was authenticated as. */
function actorOf(principal: Principal): { type: ActorType; id: string } {
  switch (principal.role) {
    case 'operator':
      return { type: 'operator', id: 'operator' };
    case 'parent':
      return { type: 'parent', id: principal.parentId };
    case 'sub-account':
      return { type: 'sub-account', id: principal.subAccountId };
  }
}
