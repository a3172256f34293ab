import { randomUUID } from 'node:crypto';
import { StreamNotFoundError, type EventStoreDBClient, type ResolvedEvent } from '@eventstore/db-client';
import * as fc from 'fast-check';
import {
  CommandProcessor,
  EventStoreUnavailableError,
  fromResolvedEvent,
  type CommandOutcome,
  type CommandProcessorObserver,
  type CommandProcessorOptions,
} from '../../src/event-store/command-processing';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import {
  accountDecider,
  InsufficientFundsError,
  modelRun,
  type AccountCommand,
  type AccountEvent,
  type AccountResult,
  type AccountState,
} from './toy-account.decider';

/**
 * `maxAppendsInFlight` (the exclusive writer's pipelined appends, BatchAppender.appendAhead): the next
 * batch is decided and sent while the one before it is still in flight. Through the real client to the
 * embedded server; a client proxy counts the appends in flight and, where a test says so, fails one.
 */
type Options = Partial<CommandProcessorOptions<AccountState, AccountCommand, AccountEvent, AccountResult>>;

const deposit = (amount: number): AccountCommand => ({ type: 'Deposit', opId: randomUUID(), amount });
const withdraw = (amount: number): AccountCommand => ({ type: 'Withdraw', opId: randomUUID(), amount });
const inspect: AccountCommand = { type: 'Inspect' };

const commandArbitrary: fc.Arbitrary<AccountCommand> = fc.oneof(
  fc.integer({ min: 1, max: 50 }).map(deposit),
  fc.integer({ min: 1, max: 60 }).map(withdraw),
  fc.constant(inspect),
);

/** The stream folded afresh; every event's stated balance checked against the running one. */
async function audit(client: EventStoreDBClient, streamName: string) {
  const read = await collect(client.readStream(streamName)).catch((error: unknown) => {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  });
  let balance = 0;
  const opIds: string[] = [];
  for (const event of read.map((e: ResolvedEvent) => fromResolvedEvent(e)!)) {
    const data = event.data as { opId: string; amount: number; balance: number };
    balance += event.type === 'Deposited' ? data.amount : -data.amount;
    expect(balance).toBeGreaterThanOrEqual(0);
    expect(data.balance).toBe(balance);
    opIds.push(data.opId);
  }
  return { balance, opIds, events: read.length };
}

/** The client, counting appends in flight; `failAppend(n)` makes the n-th append (1-based) fail unsent. */
function watchedClient(client: EventStoreDBClient) {
  const seen = { inFlight: 0, maxInFlight: 0, appends: 0, failAt: 0 };
  const proxy = new Proxy(client, {
    get(target, property, receiver) {
      if (property !== 'appendToStream') return Reflect.get(target, property, receiver);
      return async (...args: Parameters<EventStoreDBClient['appendToStream']>) => {
        seen.appends++;
        if (seen.appends === seen.failAt) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new Error('injected: the connection dropped before this append was sent');
        }
        seen.inFlight++;
        seen.maxInFlight = Math.max(seen.maxInFlight, seen.inFlight);
        try {
          return await target.appendToStream(...args);
        } finally {
          seen.inFlight--;
        }
      };
    },
  });
  return { client: proxy, seen };
}

function recorder() {
  const snapshots: bigint[] = [];
  const conflicts: number[] = [];
  const observer: CommandProcessorObserver = {
    onSnapshot: ({ revision }) => snapshots.push(revision),
    onConflict: ({ attempt }) => conflicts.push(attempt),
  };
  return { observer, snapshots, conflicts };
}

describe('pipelined appends of an exclusive writer (maxAppendsInFlight)', () => {
  let store: TestEventStore;
  const processors: Array<CommandProcessor<AccountState, AccountCommand, AccountEvent, AccountResult>> = [];

  const processor = (client: EventStoreDBClient, options: Options = {}) => {
    const created = new CommandProcessor({
      client,
      decider: accountDecider,
      exclusiveWriter: true,
      maxAppendsInFlight: 2,
      maxBatchCommands: 4,
      snapshots: false,
      ...options,
    });
    processors.push(created);
    return created;
  };

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await Promise.all(processors.map((p) => p.close()));
    await store?.stop();
  });

  it('is refused without exclusiveWriter: another writer could fill the revisions a failed batch leaves', () => {
    expect(
      () =>
        new CommandProcessor({
          client: store.client,
          decider: accountDecider,
          maxAppendsInFlight: 2,
        }),
    ).toThrow(/exclusiveWriter/);
  });

  it('keeps two appends in flight and answers exactly as one command at a time would (property)', async () => {
    let maxInFlight = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { minLength: 20, maxLength: 80 }), async (commands) => {
        const stream = uniqueStream('account');
        const watched = watchedClient(store.client);
        const accounts = processor(watched.client);
        const settled = await Promise.allSettled(
          commands.map((command) => accounts.execute(stream, command)),
        );
        const outcomes = settled.map((s) => {
          if (s.status === 'fulfilled') return s.value.result.balance;
          if (s.reason instanceof InsufficientFundsError) return 'refused';
          throw s.reason;
        });
        const expected = modelRun(commands);
        expect(outcomes).toEqual(expected.outcomes);
        const audited = await audit(store.client, stream);
        expect(audited.balance).toBe(expected.balance);
        expect(watched.seen.maxInFlight).toBeLessThanOrEqual(2);
        maxInFlight = Math.max(maxInFlight, watched.seen.maxInFlight);
      }),
      { numRuns: 15 },
    );
    // Pipelined for real, not one at a time.
    expect(maxInFlight).toBe(2);
  });

  it('drains a command sent as the answer before it arrives, however many ticks later (no stranded queue)', async () => {
    const stream = uniqueStream('account');
    const accounts = processor(store.client);
    // The next command is sent from the caller's continuation after 0 to 12 microtask hops: one of
    // them lands while the worker is between its last empty-queue check and letting go of the slot.
    for (let hops = 0; hops <= 12; hops++) {
      const next = accounts.execute(stream, deposit(1)).then(async () => {
        for (let i = 0; i < hops; i++) await Promise.resolve();
        return accounts.execute(stream, inspect);
      });
      const answered = await Promise.race([
        next,
        new Promise((resolve) => setTimeout(() => resolve('stranded'), 5_000)),
      ]);
      expect(answered).toMatchObject({ result: { balance: 2 * hops + 1 } });
      await accounts.execute(stream, deposit(1));
    }
  });

  it.each([8, 12])(
    'after an append fails, the batch sent behind it is decided again; only the failed one is unanswered (%i commands)',
    async (count) => {
      const stream = uniqueStream('account');
      const watched = watchedClient(store.client);
      const accounts = processor(watched.client);
      await accounts.execute(stream, deposit(1_000));
      // Appends 2 and 3 go out together (4 commands each); append 2 fails before reaching the store, so
      // append 3, which expected append 2's end, is refused by the store's expected-revision check.
      watched.seen.failAt = 2;
      // 8: nothing is queued behind the batch that is decided again, which must not strand it.
      const commands = Array.from({ length: count }, (_, i) => (i % 3 === 2 ? withdraw(7) : deposit(3)));
      const settled = await Promise.allSettled(commands.map((command) => accounts.execute(stream, command)));

      const failed = settled.filter((s) => s.status === 'rejected');
      expect(failed).toHaveLength(4);
      for (const s of failed)
        expect((s as PromiseRejectedResult).reason).toBeInstanceOf(EventStoreUnavailableError);
      const answered = settled.filter(
        (s): s is PromiseFulfilledResult<CommandOutcome<AccountResult>> => s.status === 'fulfilled',
      );
      expect(answered).toHaveLength(count - 4);
      // What was answered is what is in the store, and nothing of the failed batch is.
      const audited = await audit(store.client, stream);
      const failedOps = commands.slice(0, 4).map((c) => (c as { opId: string }).opId);
      expect(audited.opIds.filter((id) => failedOps.includes(id))).toEqual([]);
      expect(audited.events).toBe(1 + count - 4);
      const lastAnswer = Math.max(...answered.map((s) => Number(s.value.streamRevision)));
      expect(lastAnswer).toBe(audited.events - 1);
      // A read afterwards sees exactly the store's balance (the cache was reloaded).
      await expect(accounts.execute(stream, inspect)).resolves.toMatchObject({
        result: { balance: audited.balance },
      });
    },
  );

  it('writes its snapshots under steady load, of durable state only', async () => {
    const stream = uniqueStream('account');
    const recorded = recorder();
    const accounts = processor(store.client, { snapshots: { every: 10 }, observer: recorded.observer });
    const commands = Array.from({ length: 120 }, (_, i) => (i % 4 === 3 ? withdraw(2) : deposit(5)));
    const expected = modelRun(commands);
    // Sent over several ticks, so appends keep overlapping.
    const sent: Array<Promise<unknown>> = [];
    for (let i = 0; i < commands.length; i++) {
      sent.push(accounts.execute(stream, commands[i]));
      if (i % 7 === 6) await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all(sent);
    await accounts.close();
    expect(recorded.snapshots.length).toBeGreaterThan(1);
    // A new processor loads from the newest snapshot plus the tail and agrees with the model.
    const fresh = processor(store.client, { snapshots: { every: 10 } });
    await expect(fresh.execute(stream, inspect)).resolves.toMatchObject({
      result: { balance: expected.balance },
    });
  });
});
