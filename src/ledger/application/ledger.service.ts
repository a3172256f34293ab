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
  ledgerStreamName,
  type ActorType,
  type LedgerCommand,
  type LedgerEvent,
  type LedgerEventMetadata,
  type LedgerState,
  type UsageResult,
} from '../domain';
import { ledgerRequestDecider, type KeyCheck, type LedgerRead, type LedgerRequest } from './ledger-request';

/** Who asks and under which ids; defined by auth, where the request's `Context` is read. */
export type { RequestContext };

/** A command's answer with the read-your-writes token of its append. */
export type Executed<Result> = {
  readonly result: Result;
  readonly commitPosition: bigint | undefined;
  readonly eventCount: number;
  /** The clock instant the command was decided at. */
  readonly now: Date;
};

/** Commands without the clock: the service stamps `metadata.now` itself. */
export type LedgerCommandInput = LedgerCommand extends infer C
  ? C extends { type: infer T; data: infer D }
    ? { type: T; data: D }
    : never
  : never;

export const LEDGER_PROCESSOR = Symbol('LEDGER_PROCESSOR');

export type LedgerProcessor = CommandProcessor<LedgerState, LedgerRequest, LedgerEvent, unknown>;

/**
 * `exclusiveWriter`: the service started its embedded store itself, so no other process appends to its
 * ledgers and the cached states need no check of the stream's head. Against an external store several
 * instances may share the streams, and each read first catches up (docs/reliability.md).
 */
export function createLedgerProcessor(
  client: EventStoreDBClient,
  options: { observer?: CommandProcessorObserver; exclusiveWriter?: boolean } = {},
): LedgerProcessor {
  return new CommandProcessor({
    client,
    decider: ledgerRequestDecider,
    exclusiveWriter: options.exclusiveWriter ?? false,
    ...(options.observer ? { observer: options.observer } : {}),
  });
}

/**
 * The ledger's one entry point for the HTTP layer: stamps each command with the clock and the event
 * metadata of SPEC §3, and runs it, or a read, through the single command processor of the `ledger`
 * category (one queue, one cached state and one append at a time per parent).
 */
@Injectable()
export class LedgerService implements BeforeApplicationShutdown {
  constructor(
    @Inject(LEDGER_PROCESSOR) private readonly processor: LedgerProcessor,
    private readonly clock: Clock,
  ) {}

  execute<Result = null>(
    context: RequestContext,
    parentId: string,
    input: LedgerCommandInput,
  ): Promise<Executed<Result>> {
    const now = this.clock.now();
    const command = { ...input, metadata: { now } } as LedgerCommand;
    return this.processor
      .execute(
        ledgerStreamName(parentId),
        { key: keyCheckOf(context.principal), command },
        { metadata: this.metadata(context, now) },
      )
      .then((outcome) => executed(outcome as CommandOutcome<Result>, now));
  }

  recordUsage(
    context: RequestContext,
    parentId: string,
    data: Omit<Extract<LedgerCommand, { type: 'RecordUsage' }>['data'], 'usageId'>,
  ): Promise<Executed<UsageResult>> {
    return this.execute<UsageResult>(context, parentId, {
      type: 'RecordUsage',
      data: { ...data, usageId: newUsageId() },
    });
  }

  /**
   * The records of one batch request, queued in order in the same tick so the processor decides them
   * together. They share the request's instant and one metadata envelope (encoded once for all their
   * events); each settles on its own, as if sent alone.
   */
  recordUsageBatch(
    context: RequestContext,
    parentId: string,
    records: readonly Omit<Extract<LedgerCommand, { type: 'RecordUsage' }>['data'], 'usageId'>[],
  ): Promise<Executed<UsageResult>>[] {
    const now = this.clock.now();
    const streamName = ledgerStreamName(parentId);
    const key = keyCheckOf(context.principal);
    const options = { metadata: this.metadata(context, now) };
    const commandMetadata = { now };
    return records.map((data) =>
      this.processor
        .execute(
          streamName,
          {
            key,
            command: {
              type: 'RecordUsage',
              data: { ...data, usageId: newUsageId() },
              metadata: commandMetadata,
            },
          },
          options,
        )
        .then((outcome) => executed(outcome as CommandOutcome<UsageResult>, now)),
    );
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
    const now = this.clock.now();
    return this.processor
      .execute(ledgerStreamName(parentId), { key, read })
      .then((outcome) => executed(outcome as CommandOutcome<Result>, now));
  }

  now(): Date {
    return this.clock.now();
  }

  /** Before the event-store client is disposed (Nest runs every `before…` hook first). */
  beforeApplicationShutdown(): Promise<void> {
    return this.processor.close();
  }

  private metadata(context: RequestContext, now: Date): EventMetadata {
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

function executed<Result>(outcome: CommandOutcome<Result>, now: Date): Executed<Result> {
  return {
    result: outcome.result,
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
