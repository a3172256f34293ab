import { randomUUID } from 'node:crypto';
import {
  CommandProcessor,
  type CommandProcessorObserver,
  type Decider,
  type DomainEvent,
} from '../../src/event-store/command-processing';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';

/*
 * The processor's generic snapshot journal, on a toy decider whose idempotency memory (operation ids)
 * is its journaled part: reads are answered before the journal is restored, the first command that
 * needs it waits for it, and a journal that does not restore makes the processor fold the whole
 * stream instead of deciding on a state without it.
 */

type OpsCommand = { type: 'Deposit'; opId: string; amount: number } | { type: 'Inspect' };
type OpsEvent = DomainEvent<'Deposited', { opId: string; amount: number; balance: number }>;
type OpsState = { balance: number; revision: number; ops: Map<string, number> };
type OpsResult = { balance: number; knownOps: number; replayed: boolean };

function opsDecider(restoreFails = false): Decider<OpsState, OpsCommand, OpsEvent, OpsResult> {
  return {
    initialState: () => ({ balance: 0, revision: -1, ops: new Map() }),
    evolve(state, event) {
      state.revision += 1;
      state.balance = event.data.balance;
      state.ops.set(event.data.opId, state.revision);
      return state;
    },
    decide(command, state) {
      const knownOps = state.ops.size;
      if (command.type === 'Inspect')
        return { events: [], result: { balance: state.balance, knownOps, replayed: false } };
      if (state.ops.has(command.opId)) {
        return { events: [], result: { balance: state.balance, knownOps, replayed: true } };
      }
      const balance = state.balance + command.amount;
      return {
        events: [{ type: 'Deposited', data: { opId: command.opId, amount: command.amount, balance } }],
        result: { balance, knownOps: knownOps + 1, replayed: false },
      };
    },
    toSnapshot: (state) => ({ balance: state.balance, revision: state.revision }),
    fromSnapshot: (json) => ({ ...(json as { balance: number; revision: number }), ops: new Map() }),
    snapshotJournal: {
      name: 'ops',
      entries: (state, after, through) => {
        const ops = [...state.ops].filter(([, revision]) => revision > after && revision <= through);
        return ops.length > 0 ? [ops] : [];
      },
      restore(state, entries, snapshotRevision) {
        if (restoreFails) throw new Error('this journal does not restore');
        for (const entry of entries as [string, number][][]) {
          for (const [opId, revision] of entry)
            if (revision <= snapshotRevision) state.ops.set(opId, revision);
        }
        return state;
      },
      decidableWithout: (command) => command.type === 'Inspect',
    },
  };
}

function recording() {
  const loads: { events: number; fromSnapshot: boolean }[] = [];
  const restored: number[] = [];
  const failures: string[] = [];
  const observer: CommandProcessorObserver = {
    onLoad: ({ events, fromSnapshot }) => loads.push({ events, fromSnapshot }),
    onJournalRestored: ({ entries }) => restored.push(entries),
    onFailure: ({ stage }) => failures.push(stage),
  };
  return { observer, loads, restored, failures };
}

describe('command processor: snapshot journal', () => {
  let store: TestEventStore;
  beforeAll(async () => {
    store = await startTestEventStore();
  });
  afterAll(async () => {
    await store?.stop();
  });

  /** Seven deposits, one append each, snapshots every 2 events: the last snapshot is at revision 6. */
  async function written(stream: string): Promise<string[]> {
    const writer = new CommandProcessor({
      client: store.client,
      decider: opsDecider(),
      snapshots: { every: 2 },
    });
    const opIds = Array.from({ length: 7 }, () => randomUUID());
    for (const opId of opIds) await writer.execute(stream, { type: 'Deposit', opId, amount: 10 });
    await writer.close();
    return opIds;
  }

  it('journals before each snapshot, answers reads before restoring, restores for the first command that needs it', async () => {
    const stream = uniqueStream('account');
    const opIds = await written(stream);
    const journal = await collect(store.client.readStream(stream.replace('account-', 'accountops-')));
    expect(journal.length).toBeGreaterThanOrEqual(3);
    // The two newest snapshots are kept; a load starts from the newest.
    const snapshot = (
      await collect(store.client.readStream(stream.replace('account-', 'accountsnapshot-')))
    ).at(-1)!;
    const data = snapshot.event!.data as { revision: string; journalThrough: string };
    expect(data.journalThrough).toBe(data.revision);

    const seen = recording();
    const reader = new CommandProcessor({
      client: store.client,
      decider: opsDecider(),
      observer: seen.observer,
    });
    try {
      const read = await reader.execute(stream, { type: 'Inspect' });
      const tail = 6 - Number(data.revision);
      expect(seen.loads).toEqual([{ events: tail, fromSnapshot: true }]);
      // Decided on the core and the tail only: the journal is not restored yet.
      expect(read.result).toEqual({ balance: 70, knownOps: tail, replayed: false });
      expect(seen.restored).toEqual([]);

      const repeat = await reader.execute(stream, { type: 'Deposit', opId: opIds[0], amount: 10 });
      expect(repeat.result).toEqual({ balance: 70, knownOps: 7, replayed: true });
      expect(repeat.eventCount).toBe(0);
      expect(seen.restored).toHaveLength(1);
    } finally {
      await reader.close();
    }
  });

  it('folds the whole stream when the journal does not restore, rather than decide without it', async () => {
    const stream = uniqueStream('account');
    const opIds = await written(stream);
    const seen = recording();
    const reader = new CommandProcessor({
      client: store.client,
      decider: opsDecider(true),
      observer: seen.observer,
      logger: { warn: () => undefined },
    });
    try {
      const repeat = await reader.execute(stream, { type: 'Deposit', opId: opIds[3], amount: 10 });
      expect(repeat.result).toEqual({ balance: 70, knownOps: 7, replayed: true });
      expect(seen.failures).toEqual(['journal']);
      expect(seen.loads.map((load) => load.fromSnapshot)).toEqual([true, false]);
      expect(seen.loads[1].events).toBe(7);
    } finally {
      await reader.close();
    }
  });
});
