import type { EventData } from '@eventstore/db-client';
import type { Decider, Decision, DomainEvent } from './decider';
import { CHAIN_GENESIS } from './audit-chain';
import { toChainedEventData, toEventData } from './event-envelope';
import type { PendingCommand, Verdict } from './outcome.settler';
import type { FoldedStream } from './stream-slot.cache';

/** Decides a batch of queued commands on a stream's folded state, for one append. */
export class BatchDecider<State, Command, Event extends DomainEvent, Result> {
  constructor(
    private readonly decider: Decider<State, Command, Event, Result>,
    private readonly maxBatchBytes: number,
    /** Link every event into the stream's audit chain (docs/audit-chain.md). */
    private readonly auditChain: boolean,
  ) {}

  /**
   * Decides the commands in order, each on the state left by the ones before it, folding accepted
   * events into `folded.state` in place. A refused command is simply skipped: its decision changed
   * nothing, and its events are folded only on success. Throws only when `evolve` does, which leaves
   * the state half-folded.
   */
  decide(
    streamName: string,
    folded: FoldedStream<State>,
    pending: readonly PendingCommand<Command, Result>[],
  ): DecidedBatch<Command, Result> {
    const verdicts: Verdict<Command, Result>[] = [];
    const events: EventData[] = [];
    let revision = folded.revision;
    let bytes = 0;
    let settledOnDurableState = 0;
    let chainHead = folded.chainHead;
    for (let i = 0; i < pending.length; i++) {
      const command = pending[i];
      let decision: Decision<Event, Result>;
      try {
        decision = this.decider.decide(command.command, folded.state, {
          streamName,
          streamRevision: revision,
        });
      } catch (error) {
        verdicts.push({ pending: command, ok: false, error });
        if (events.length === 0) settledOnDurableState++;
        continue;
      }
      let commandHead = chainHead;
      let size = 0;
      const eventData = decision.events.map((event) => {
        if (!this.auditChain) {
          const data = toEventData(event, command.metadata);
          size += payloadBytes(data);
          return data;
        }
        const chained = toChainedEventData(event, command.metadata, commandHead ?? CHAIN_GENESIS);
        commandHead = chained.hash;
        size += chained.payloadBytes;
        return chained.eventData;
      });
      if (events.length > 0 && bytes + size > this.maxBatchBytes) {
        return { verdicts, settledOnDurableState, events, deferred: pending.slice(i) };
      }
      chainHead = commandHead;
      // Folded with the state, in place: the rollback point keeps the head the batch started from.
      folded.chainHead = chainHead;
      for (const event of decision.events) folded.state = this.decider.evolve(folded.state, event);
      bytes += size;
      revision += BigInt(decision.events.length);
      events.push(...eventData);
      verdicts.push({
        pending: command,
        ok: true,
        result: decision.result,
        revision,
        eventCount: decision.events.length,
      });
      if (events.length === 0) settledOnDurableState++;
    }
    return { verdicts, settledOnDurableState, events, deferred: [] };
  }
}

function payloadBytes(event: EventData): number {
  const data =
    event.data instanceof Uint8Array ? event.data.length : Buffer.byteLength(JSON.stringify(event.data));
  const metadata =
    event.metadata === undefined
      ? 0
      : event.metadata instanceof Uint8Array
        ? event.metadata.length
        : Buffer.byteLength(JSON.stringify(event.metadata));
  return data + metadata + event.type.length;
}

export interface DecidedBatch<Command, Result> {
  readonly verdicts: Verdict<Command, Result>[];
  /**
   * How many leading verdicts were reached before any event of the batch: they rest on durable state
   * only, so they need not wait for the append.
   */
  readonly settledOnDurableState: number;
  readonly events: EventData[];
  /** Commands pushed out by the byte cap, to be decided in the next batch. */
  readonly deferred: PendingCommand<Command, Result>[];
}
