import { randomUUID } from 'node:crypto';
import {
  ANY,
  EventStoreDBClient,
  StreamNotFoundError,
  jsonEvent,
  type ResolvedEvent,
} from '@eventstore/db-client';
import * as fc from 'fast-check';
import {
  CommandProcessor,
  ConcurrencyConflictError,
  defaultSnapshotStreamName,
  fromResolvedEvent,
  type CommandOutcome,
  type CommandProcessorObserver,
  type CommandProcessorOptions,
} from '../../src/event-store/command-processing';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import { pollUntil } from '../support/poll';
import {
  accountDecider,
  cloningAccountDecider,
  InsufficientFundsError,
  InvalidAmountError,
  modelRun,
  type AccountCommand,
  type AccountEvent,
  type AccountResult,
  type AccountState,
} from './toy-account.decider';

type AccountProcessor = CommandProcessor<AccountState, AccountCommand, AccountEvent, AccountResult>;
type AccountOptions = Partial<
  CommandProcessorOptions<AccountState, AccountCommand, AccountEvent, AccountResult>
>;

/** Counts what the processor reports, to see batching and conflicts from outside. */
function recordingObserver() {
  const appends: Array<{ commands: number; events: number }> = [];
  const loads: Array<{ events: number; fromSnapshot: boolean }> = [];
  const conflicts: number[] = [];
  const snapshots: bigint[] = [];
  const failures: string[] = [];
  const observer: CommandProcessorObserver = {
    onAppend: ({ commands, events }) => appends.push({ commands, events }),
    onLoad: ({ events, fromSnapshot }) => loads.push({ events, fromSnapshot }),
    onConflict: ({ attempt }) => conflicts.push(attempt),
    onSnapshot: ({ revision }) => snapshots.push(revision),
    onFailure: ({ stage }) => failures.push(stage),
  };
  return { observer, appends, loads, conflicts, snapshots, failures };
}

const deposit = (amount: number): AccountCommand => ({ type: 'Deposit', opId: randomUUID(), amount });
const withdraw = (amount: number): AccountCommand => ({ type: 'Withdraw', opId: randomUUID(), amount });
const inspect: AccountCommand = { type: 'Inspect' };

/** Fulfilled balances or 'refused' (insufficient funds); any other failure is rethrown. */
async function outcomesOf(
  promises: ReadonlyArray<Promise<CommandOutcome<AccountResult>>>,
): Promise<Array<number | 'refused'>> {
  const settled = await Promise.allSettled(promises);
  return settled.map((s) => {
    if (s.status === 'fulfilled') return s.value.result.balance;
    if (s.reason instanceof InsufficientFundsError) return 'refused';
    throw s.reason;
  });
}

/**
 * Folds the stream afresh and checks every event against the invariant and against the balance it
 * states: an event decided on a stale state would state a wrong balance.
 */
async function auditStream(client: EventStoreDBClient, streamName: string) {
  const read = await collect(client.readStream(streamName)).catch((error: unknown) => {
    if (error instanceof StreamNotFoundError) return [];
    throw error;
  });
  const events = read.map((e: ResolvedEvent) => fromResolvedEvent(e)!);
  let balance = 0;
  const opIds: string[] = [];
  for (const event of events) {
    const data = event.data as { opId: string; amount: number; balance: number };
    balance += event.type === 'Deposited' ? data.amount : -data.amount;
    expect(balance).toBeGreaterThanOrEqual(0);
    expect(data.balance).toBe(balance);
    opIds.push(data.opId);
  }
  return { balance, opIds, events };
}

const commandArbitrary: fc.Arbitrary<AccountCommand> = fc.oneof(
  fc.integer({ min: 1, max: 50 }).map(deposit),
  fc.integer({ min: 1, max: 60 }).map(withdraw),
  fc.constant(inspect),
);

describe('CommandProcessor over the real client', () => {
  let store: TestEventStore;
  const processors: AccountProcessor[] = [];
  const extraClients: EventStoreDBClient[] = [];

  const processor = (options: AccountOptions = {}, client: EventStoreDBClient = store.client) => {
    const created = new CommandProcessor({ client, decider: accountDecider, ...options });
    processors.push(created);
    return created;
  };
  const secondClient = () => {
    const client = EventStoreDBClient.connectionString(store.connectionString);
    extraClients.push(client);
    return client;
  };
  /**
   * A client on `stream` (opened with a deposit of 5) that another writer always overtakes: before
   * each of its appends the interloper appends a deposit of 1, so every append meets a new revision.
   */
  const alwaysOvertaken = async (stream: string): Promise<EventStoreDBClient> => {
    const interloper = secondClient();
    await store.client.appendToStream(
      stream,
      jsonEvent({ type: 'Deposited', data: { opId: 'x', amount: 5, balance: 5 } }),
    );
    return new Proxy(store.client, {
      get(target, property, receiver) {
        if (property !== 'appendToStream') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<EventStoreDBClient['appendToStream']>) => {
          const { balance } = await auditStream(interloper, stream);
          const opId = randomUUID();
          await interloper.appendToStream(
            stream,
            jsonEvent({ type: 'Deposited', data: { opId, amount: 1, balance: balance + 1 } }),
            { expectedRevision: ANY },
          );
          return target.appendToStream(...args);
        };
      },
    });
  };

  beforeAll(async () => {
    store = await startTestEventStore();
  });
  afterEach(async () => {
    await Promise.all(processors.splice(0).map((p) => p.close()));
  });
  afterAll(async () => {
    await Promise.all(extraClients.splice(0).map((c) => c.dispose()));
    await store?.stop();
  });

  it('decides a batch in order, in one append, and a refused command fails alone', async () => {
    const stream = uniqueStream('account');
    const recorded = recordingObserver();
    const accounts = processor({ observer: recorded.observer });
    const commands = [
      deposit(10),
      withdraw(15),
      withdraw(5),
      { ...deposit(0) },
      withdraw(6),
      deposit(1),
      inspect,
    ];

    const settled = await Promise.allSettled(commands.map((c) => accounts.execute(stream, c)));

    expect(
      settled.map((s) => (s.status === 'fulfilled' ? s.value.result.balance : s.reason.constructor)),
    ).toEqual([10, InsufficientFundsError, 5, InvalidAmountError, InsufficientFundsError, 6, 6]);
    // Sent in one tick, so one batch and one append carrying the three accepted commands' events.
    expect(recorded.appends).toEqual([{ commands: 7, events: 3 }]);
    const audit = await auditStream(store.client, stream);
    expect(audit.balance).toBe(6);
    expect(audit.opIds).toEqual(
      [commands[0], commands[2], commands[5]].map((c) => (c as { opId: string }).opId),
    );
  });

  it('answers reads and refusals decided before the first event of a batch without waiting for its append', async () => {
    const stream = uniqueStream('account');
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    const held = new Proxy(store.client, {
      get(target, property, receiver) {
        if (property !== 'appendToStream') return Reflect.get(target, property, receiver);
        return async (...args: Parameters<EventStoreDBClient['appendToStream']>) => {
          await gate;
          return target.appendToStream(...args);
        };
      },
    });
    const accounts = processor({}, held);
    const settledOrder: string[] = [];
    const track = (name: string, outcome: Promise<unknown>) =>
      outcome.then(
        () => settledOrder.push(name),
        () => settledOrder.push(name),
      );

    const all = Promise.all([
      track('read before', accounts.execute(stream, inspect)),
      track('refused before', accounts.execute(stream, withdraw(1))),
      track('deposit', accounts.execute(stream, deposit(5))),
      track('read after', accounts.execute(stream, inspect)),
    ]);
    await pollUntil(
      async () => settledOrder.length,
      (settled) => settled >= 2,
      { everyMs: 5 },
    );
    expect(settledOrder).toEqual(['read before', 'refused before']);
    openGate();
    await all;
    expect(settledOrder).toEqual(['read before', 'refused before', 'deposit', 'read after']);
  });

  it('prepares the next batch while the one before it appends, and again just before deciding it', async () => {
    const stream = uniqueStream('account');
    const recorded = recordingObserver();
    const calls: Array<{ commands: number; appendsAcknowledged: number }> = [];
    let releaseFirst!: () => void;
    const firstHeld = new Promise<void>((resolve) => (releaseFirst = resolve));
    const accounts = processor({
      observer: recorded.observer,
      prepare: async ({ commands }) => {
        calls.push({ commands: commands.length, appendsAcknowledged: recorded.appends.length });
        if (calls.length === 1) await firstHeld;
      },
    });

    const first = accounts.execute(stream, deposit(10));
    await pollUntil(
      async () => calls.length,
      (n) => n === 1,
    );
    // Queued while the first batch is still being prepared: they form the next batch.
    const rest = [withdraw(3), deposit(1)].map((c) => accounts.execute(stream, c));
    releaseFirst();

    expect(await outcomesOf([first, ...rest])).toEqual([10, 7, 8]);
    expect(recorded.appends).toEqual([
      { commands: 1, events: 1 },
      { commands: 2, events: 2 },
    ]);
    // The second batch was prepared before the first append was acknowledged, then once more.
    expect(calls).toEqual([
      { commands: 1, appendsAcknowledged: 0 },
      { commands: 2, appendsAcknowledged: 0 },
      { commands: 2, appendsAcknowledged: 1 },
    ]);
  });

  it('tells each command the revision and commit position of its own events', async () => {
    const stream = uniqueStream('account');
    const accounts = processor();
    const commands = [deposit(3), deposit(4), withdraw(100), deposit(5)];
    const settled = await Promise.allSettled(commands.map((c) => accounts.execute(stream, c)));
    const later = await accounts.execute(stream, inspect);

    const { events } = await auditStream(store.client, stream);
    const fulfilled = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    expect(fulfilled.map((o) => o.streamRevision)).toEqual([0n, 1n, 2n]);
    for (const outcome of fulfilled) {
      const own = events[Number(outcome.streamRevision)];
      expect(outcome.eventCount).toBe(1);
      if (own.commitPosition !== undefined)
        expect(outcome.commitPosition).toBeGreaterThanOrEqual(own.commitPosition);
    }
    expect(later).toMatchObject({ result: { balance: 12 }, streamRevision: 2n, eventCount: 0 });
    expect(later.commitPosition).toBe(fulfilled[2].commitPosition);
  });

  it('puts the command metadata on each of its events', async () => {
    const stream = uniqueStream('account');
    const accounts = processor();
    await accounts.execute(stream, deposit(1), {
      metadata: { $correlationId: 'corr-1', actor: { type: 'service' } },
    });
    const [event] = (await collect(store.client.readStream(stream))).map((e) => fromResolvedEvent(e)!);
    // Plus its audit-chain link (docs/audit-chain.md).
    expect(event.metadata).toEqual({
      $correlationId: 'corr-1',
      actor: { type: 'service' },
      chain: { prev: '0'.repeat(64), hash: expect.stringMatching(/^[0-9a-f]{64}$/) },
    });
    expect(event.streamName).toBe(stream);
    expect(event.revision).toBe(0n);
    expect(event.created).toBeInstanceOf(Date);
  });

  it('gives exactly the sequential outcome when 200 commands race through one processor', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArbitrary, { minLength: 200, maxLength: 200 }), async (commands) => {
        const stream = uniqueStream('account');
        const accounts = processor();
        const outcomes = await outcomesOf(commands.map((c) => accounts.execute(stream, c)));
        const model = modelRun(commands);
        expect(outcomes).toEqual(model.outcomes);
        expect((await auditStream(store.client, stream)).balance).toBe(model.balance);
      }),
      { numRuns: 5 },
    );
  });

  it('splits a batch at the byte cap and keeps the order', async () => {
    const stream = uniqueStream('account');
    const recorded = recordingObserver();
    const accounts = processor({ observer: recorded.observer, maxBatchBytes: 400 });
    const commands = Array.from({ length: 20 }, (_, i) => (i % 3 === 2 ? withdraw(4) : deposit(2)));
    const outcomes = await outcomesOf(commands.map((c) => accounts.execute(stream, c)));
    expect(outcomes).toEqual(modelRun(commands).outcomes);
    expect(recorded.appends.length).toBeGreaterThan(1);
    expect(recorded.appends.reduce((sum, a) => sum + a.commands, 0)).toBe(20);
  });

  describe.each([
    ['reloading', accountDecider],
    ['cloning', cloningAccountDecider],
  ])('a conflict with another writer (%s decider)', (_name, decider) => {
    it('catches up and decides the batch again, which may now refuse it', async () => {
      const stream = uniqueStream('account');
      const recorded = recordingObserver();
      // A processor told it is the only writer trusts its cache; the expected revision still saves it.
      const mine = processor({ decider, observer: recorded.observer, exclusiveWriter: true });
      const theirs = processor({ decider }, secondClient());

      await mine.execute(stream, deposit(10));
      await theirs.execute(stream, withdraw(8));
      // Our cache still says 10: the first try is refused by the store, the retry by the rule.
      await expect(mine.execute(stream, withdraw(5))).rejects.toBeInstanceOf(InsufficientFundsError);
      expect(recorded.conflicts).toEqual([1]);
      await expect(mine.execute(stream, withdraw(2))).resolves.toMatchObject({
        result: { balance: 0 },
        streamRevision: 2n,
      });
      expect((await auditStream(store.client, stream)).balance).toBe(0);
    });

    it('gives up after the configured retries with a retryable concurrency_conflict and records nothing', async () => {
      const stream = uniqueStream('account');
      const accounts = processor({ decider, maxConflictRetries: 3 }, await alwaysOvertaken(stream));
      const command = withdraw(1);

      const error = await accounts.execute(stream, command).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(ConcurrencyConflictError);
      expect(error).toMatchObject({ code: 'concurrency_conflict', retryable: true, attempts: 4 });
      const audit = await auditStream(store.client, stream);
      expect(audit.opIds).not.toContain((command as { opId: string }).opId);
      expect(audit.events).toHaveLength(5);
    });

    it('answers a read that rode in a batch whose append gave up, instead of refusing it with the writers', async () => {
      const stream = uniqueStream('account');
      const accounts = processor({ decider, maxConflictRetries: 1 }, await alwaysOvertaken(stream));

      // The first write occupies the stream, so the withdrawal and the read queue up as one batch
      // behind it: the read is decided after the withdrawal's (never appended) event.
      const first = accounts.execute(stream, deposit(1)).catch((e: unknown) => e);
      const write = accounts.execute(stream, withdraw(1)).catch((e: unknown) => e);
      const read = accounts.execute(stream, inspect).catch((e: unknown) => e);

      expect(await first).toBeInstanceOf(ConcurrencyConflictError);
      expect(await write).toBeInstanceOf(ConcurrencyConflictError);
      const answered = await read;
      expect(answered).not.toBeInstanceOf(Error);
      // The read shows the stream as it is: every interloper deposit, none of the lost writes.
      expect(answered).toMatchObject({
        result: { balance: (await auditStream(store.client, stream)).balance },
      });
    });
  });

  it('by default catches up before deciding, so reads and refusals see what another writer acknowledged', async () => {
    const stream = uniqueStream('account');
    const recorded = recordingObserver();
    const mine = processor({ observer: recorded.observer });
    const theirs = processor({}, secondClient());

    await mine.execute(stream, deposit(10));
    await theirs.execute(stream, deposit(5));
    // A read settles without an append, so no expected revision would catch a stale cache.
    await expect(mine.execute(stream, inspect)).resolves.toMatchObject({ result: { balance: 15 } });
    // Neither refused on the stale balance of 10 nor sent to the store to conflict first.
    await expect(mine.execute(stream, withdraw(12))).resolves.toMatchObject({ result: { balance: 3 } });
    expect(recorded.conflicts).toEqual([]);
    expect((await auditStream(store.client, stream)).balance).toBe(3);
  });

  it('trusts its cache when told it is the only writer (exclusiveWriter)', async () => {
    const stream = uniqueStream('account');
    const mine = processor({ exclusiveWriter: true });
    const theirs = processor({}, secondClient());

    await mine.execute(stream, deposit(10));
    await theirs.execute(stream, deposit(5));
    // What the option promises: no read before answering. The stale answer proves no read was made.
    await expect(mine.execute(stream, inspect)).resolves.toMatchObject({ result: { balance: 10 } });
  });

  it('sees a conflict through a client built not to throw on append failure', async () => {
    const stream = uniqueStream('account');
    const quiet = EventStoreDBClient.connectionString(`${store.connectionString}&throwOnAppendFailure=false`);
    extraClients.push(quiet);
    const recorded = recordingObserver();
    const mine = processor({ observer: recorded.observer, exclusiveWriter: true }, quiet);
    const theirs = processor({}, secondClient());

    await mine.execute(stream, deposit(10));
    await theirs.execute(stream, withdraw(8));
    await expect(mine.execute(stream, withdraw(5))).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(recorded.conflicts).toEqual([1]);
    expect((await auditStream(store.client, stream)).balance).toBe(2);
  });

  it('keeps the rule and loses nothing when two processors on two clients race on one stream', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(commandArbitrary, { minLength: 100, maxLength: 100 }),
        fc.array(commandArbitrary, { minLength: 100, maxLength: 100 }),
        async (left, right) => {
          const stream = uniqueStream('account');
          const recorded = recordingObserver();
          const a = processor({ observer: recorded.observer, maxConflictRetries: 20 });
          const b = processor(
            { decider: cloningAccountDecider, observer: recorded.observer },
            secondClient(),
          );
          // Interleave sends over several ticks so the two keep overtaking each other.
          const sent: Array<{ command: AccountCommand; outcome: Promise<unknown> }> = [];
          for (let i = 0; i < left.length; i++) {
            sent.push({ command: left[i], outcome: a.execute(stream, left[i]) });
            sent.push({ command: right[i], outcome: b.execute(stream, right[i]) });
            if (i % 10 === 9) await new Promise((resolve) => setImmediate(resolve));
          }
          const settled = await Promise.allSettled(sent.map((s) => s.outcome));
          const audit = await auditStream(store.client, stream);

          const acknowledged = new Set<string>();
          settled.forEach((s, i) => {
            const command = sent[i].command;
            if (s.status === 'rejected') {
              expect(
                s.reason instanceof InsufficientFundsError || s.reason instanceof ConcurrencyConflictError,
              ).toBe(true);
            }
            if (s.status === 'fulfilled' && command.type !== 'Inspect') acknowledged.add(command.opId);
          });
          // Exactly the acknowledged commands are in the stream, each once.
          expect(new Set(audit.opIds).size).toBe(audit.opIds.length);
          expect(new Set(audit.opIds)).toEqual(acknowledged);
          const fresh = processor({ snapshots: false });
          expect((await fresh.execute(stream, inspect)).result.balance).toBe(audit.balance);
        },
      ),
      { numRuns: 4 },
    );
  });

  describe('snapshots', () => {
    it('writes one every N events, keeps the two newest, and snapshot + tail folds like the whole stream', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(commandArbitrary, { minLength: 1, maxLength: 120 }),
          fc.integer({ min: 1, max: 30 }),
          async (commands, every) => {
            const stream = uniqueStream('account');
            const writer = processor({ snapshots: { every } });
            // Several batches, so snapshots are taken at several points.
            for (let i = 0; i < commands.length; i += 7) {
              await outcomesOf(commands.slice(i, i + 7).map((c) => writer.execute(stream, c)));
            }
            await writer.close();
            const audit = await auditStream(store.client, stream);

            const snapshotEvents = await collect(
              store.client.readStream(defaultSnapshotStreamName(stream)),
            ).catch(() => []);
            const recorded = recordingObserver();
            const reader = processor({ snapshots: { every }, observer: recorded.observer });
            const viaSnapshot = await reader.execute(stream, inspect);
            const viaFullFold = await processor({ snapshots: false }).execute(stream, inspect);

            expect(viaSnapshot.result).toEqual(viaFullFold.result);
            expect(viaSnapshot.result.balance).toBe(audit.balance);
            expect(viaSnapshot.streamRevision).toBe(BigInt(audit.events.length - 1));
            if (audit.events.length >= every) {
              expect(snapshotEvents.length === 1 || snapshotEvents.length === 2).toBe(true);
              const snapshotRevision = BigInt(
                (snapshotEvents[snapshotEvents.length - 1].event!.data as { revision: string }).revision,
              );
              expect(recorded.loads).toEqual([
                { events: audit.events.length - 1 - Number(snapshotRevision), fromSnapshot: true },
              ]);
            } else {
              expect(snapshotEvents).toHaveLength(0);
            }
          },
        ),
        { numRuns: 12 },
      );
    });

    it('ignores a snapshot taken at the head of a stream deleted since, and starts from nothing', async () => {
      const stream = uniqueStream('account');
      const writer = processor({ snapshots: { every: 2 } });
      for (const command of [deposit(5), deposit(6)]) await writer.execute(stream, command);
      await writer.close();
      // The snapshot is at the stream's last revision, the case where a load skips the tail read.
      expect(await collect(store.client.readStream(defaultSnapshotStreamName(stream)))).toHaveLength(1);
      await store.client.deleteStream(stream);

      const recorded = recordingObserver();
      const reader = processor({ snapshots: { every: 100 }, observer: recorded.observer });
      const outcome = await reader.execute(stream, inspect);
      expect(outcome.result.balance).toBe(0);
      expect(outcome.streamRevision).toBe(-1n);
      expect(recorded.loads).toEqual([{ events: 0, fromSnapshot: false }]);
    });

    it('ignores a snapshot of another version and folds the whole stream', async () => {
      const stream = uniqueStream('account');
      const writer = processor({ snapshots: { every: 2 } });
      for (const command of [deposit(5), deposit(6), withdraw(3)]) await writer.execute(stream, command);
      await writer.close();
      const recorded = recordingObserver();
      const reader = processor({
        decider: { ...accountDecider, snapshotVersion: 2 },
        snapshots: { every: 100 },
        observer: recorded.observer,
      });
      await expect(reader.execute(stream, inspect)).resolves.toMatchObject({ result: { balance: 8 } });
      expect(recorded.loads).toEqual([{ events: 3, fromSnapshot: false }]);
    });

    it('refuses snapshot options for a decider that cannot snapshot', () => {
      const { toSnapshot: _drop, ...noSnapshots } = accountDecider;
      expect(
        () => new CommandProcessor({ client: store.client, decider: noSnapshots, snapshots: { every: 10 } }),
      ).toThrow(/toSnapshot and fromSnapshot/);
    });
  });

  it('fails the whole batch and reloads when evolve throws halfway through it', async () => {
    const stream = uniqueStream('account');
    const recorded = recordingObserver();
    const brokenOnThirteen: typeof accountDecider = {
      ...accountDecider,
      evolve: (state, event) => {
        if (event.data.amount === 13) throw new Error('evolve bug');
        return accountDecider.evolve(state, event);
      },
    };
    const accounts = processor({ decider: brokenOnThirteen, observer: recorded.observer });
    await accounts.execute(stream, deposit(5));

    const settled = await Promise.allSettled(
      [deposit(1), deposit(13), deposit(2)].map((c) => accounts.execute(stream, c)),
    );

    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(recorded.failures).toEqual(['evolve']);
    await expect(accounts.execute(stream, inspect)).resolves.toMatchObject({ result: { balance: 5 } });
    expect(recorded.loads).toHaveLength(2);
    expect((await auditStream(store.client, stream)).events).toHaveLength(1);
  });

  it('evicts the least recently used idle stream and reloads it when needed', async () => {
    const recorded = recordingObserver();
    const accounts = processor({ maxCachedStreams: 2, observer: recorded.observer });
    const [s1, s2, s3] = [uniqueStream('account'), uniqueStream('account'), uniqueStream('account')];
    await accounts.execute(s1, deposit(1));
    await accounts.execute(s2, deposit(2));
    await accounts.execute(s1, deposit(1));
    await accounts.execute(s3, deposit(3));
    expect(accounts.cachedStreams).toBe(2);
    expect(recorded.loads).toHaveLength(3);
    await accounts.execute(s1, inspect);
    expect(recorded.loads).toHaveLength(3);
    await expect(accounts.execute(s2, inspect)).resolves.toMatchObject({ result: { balance: 2 } });
    expect(recorded.loads).toHaveLength(4);
  });

  it('refuses new commands once closed', async () => {
    const accounts = processor();
    await accounts.close();
    await expect(accounts.execute(uniqueStream('account'), inspect)).rejects.toMatchObject({
      code: 'event_store_unavailable',
    });
  });
});
