import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { EventStoreDBClient } from '@eventstore/db-client';
import {
  CommandProcessor,
  EventStoreUnavailableError,
  fromResolvedEvent,
  type CommandOutcome,
} from '../../src/event-store/command-processing';
import {
  collect,
  spawnEmbeddedEventStore,
  uniqueStream,
  type EventStoreProcess,
} from '../support/event-store';
import {
  accountDecider,
  InsufficientFundsError,
  type AccountCommand,
  type AccountResult,
} from './toy-account.decider';
import { randomUUID } from 'node:crypto';
import { pollUntil } from '../support/poll';

const deposit = (amount: number): AccountCommand => ({ type: 'Deposit', opId: randomUUID(), amount });
const withdraw = (amount: number): AccountCommand => ({ type: 'Withdraw', opId: randomUUID(), amount });

/**
 * After a restart the channel reconnects with backoff, so the first commands may still meet the outage.
 * Only the unavailable error is retried; a store that never comes back is a hang, left to jest's timeout.
 */
function onceAvailable<T>(attempt: () => Promise<T>): Promise<T> {
  return pollUntil(attempt, () => true, {
    everyMs: 200,
    retry: (error) => error instanceof EventStoreUnavailableError,
  });
}

// A real server cannot be killed from here: these run on the embedded one only.
const describeEmbedded = process.env.EVENTSTORE_CONNECTION_STRING ? describe.skip : describe;

describeEmbedded('CommandProcessor when the store goes away', () => {
  let dataDir: string;
  let server: EventStoreProcess | undefined;
  let client: EventStoreDBClient | undefined;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'command-processing-'));
    server = await spawnEmbeddedEventStore({ dataDir });
    client = EventStoreDBClient.connectionString(server.connectionString);
  });
  afterEach(async () => {
    await client?.dispose();
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('fails with event_store_unavailable, then reloads instead of trusting the state of the failed batch', async () => {
    const stream = uniqueStream('account');
    const accounts = new CommandProcessor({
      client: client!,
      decider: accountDecider,
      appendDeadlineMs: 5_000,
    });
    await accounts.execute(stream, deposit(100));

    await server!.killHard();
    const failed = await accounts.execute(stream, withdraw(60)).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(EventStoreUnavailableError);
    expect(failed).toMatchObject({ code: 'event_store_unavailable', retryable: true, streamName: stream });

    server = await spawnEmbeddedEventStore({ dataDir, port: server!.port });
    // Had the processor kept the failed withdrawal folded in, it would see 40 and refuse this one.
    const outcome = await onceAvailable(() => accounts.execute(stream, withdraw(60)));
    expect(outcome.result.balance).toBe(40);
    await accounts.close();
  });

  it('acknowledges only what the store acknowledged when it dies in the middle of a burst', async () => {
    const stream = uniqueStream('account');
    const accounts = new CommandProcessor({
      client: client!,
      decider: accountDecider,
      appendDeadlineMs: 5_000,
    });
    await accounts.execute(stream, deposit(1_000));

    const sent: Array<{ command: AccountCommand; outcome: Promise<CommandOutcome<AccountResult>> }> = [];
    let killed: Promise<void> | undefined;
    for (let i = 0; i < 300; i++) {
      const command = withdraw(1);
      const outcome = accounts.execute(stream, command);
      // Kill as soon as the first command of the burst is acknowledged, with the rest still coming.
      if (i === 0)
        void outcome.then(
          () => (killed = server!.killHard()),
          () => undefined,
        );
      sent.push({ command, outcome });
      if (i % 5 === 4) await new Promise((resolve) => setImmediate(resolve));
    }
    const settled = await Promise.allSettled(sent.map((s) => s.outcome));
    await killed;
    for (const s of settled) {
      if (s.status === 'rejected') expect(s.reason).toBeInstanceOf(EventStoreUnavailableError);
    }
    const acknowledged = sent
      .filter((_, i) => settled[i].status === 'fulfilled')
      .map((s) => opIdOf(s.command));
    expect(acknowledged.length).toBeGreaterThan(0);

    server = await spawnEmbeddedEventStore({ dataDir, port: server!.port });
    const after = await onceAvailable(() => accounts.execute(stream, withdraw(1)));
    const stored = (await collect(client!.readStream(stream))).map((e) => fromResolvedEvent(e)!);
    const storedOpIds = new Set(stored.map((e) => (e.data as { opId: string }).opId));
    for (const opId of acknowledged) expect(storedOpIds).toContain(opId);
    // The processor's state after recovery is the fold of what is really stored, nothing more.
    expect(after.result.balance).toBe(1_000 - (stored.length - 1));
    expect(after.streamRevision).toBe(BigInt(stored.length - 1));
    await expect(accounts.execute(stream, withdraw(10_000))).rejects.toBeInstanceOf(InsufficientFundsError);
    await accounts.close();
  });
});

function opIdOf(command: AccountCommand): string {
  if (command.type === 'Inspect') throw new Error('inspections have no id');
  return command.opId;
}
