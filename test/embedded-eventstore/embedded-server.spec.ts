import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import {
  END,
  EventStoreDBClient,
  jsonEvent,
  ResolvedEvent,
  START,
  streamNameFilter,
} from '@eventstore/db-client';
import { OperationsClient } from '@eventstore/db-client/generated/operations_grpc_pb';
import { ServerFeaturesClient } from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import { Empty } from '@eventstore/db-client/generated/shared_pb';
import { SupportedMethods } from '@eventstore/db-client/generated/serverfeatures_pb';
import { EmbeddedEventStore, startEmbeddedEventStore } from '../../src/embedded-eventstore';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

describe('embedded server through the client', () => {
  let store: EmbeddedEventStore;
  let client: EventStoreDBClient;

  beforeAll(async () => {
    store = await startEmbeddedEventStore({ port: 0, memory: true });
    client = EventStoreDBClient.connectionString(store.connectionString);
  });
  afterAll(async () => {
    await client.dispose();
    await store.close();
  });

  it('announces BatchAppend and a 23.x version in ServerFeatures', async () => {
    const raw = new ServerFeaturesClient(`127.0.0.1:${store.port}`, credentials.createInsecure());
    const methods = await new Promise<SupportedMethods>((resolve, reject) =>
      raw.getSupportedMethods(new Empty(), (err, resp) => (err ? reject(err) : resolve(resp))),
    );
    raw.close();
    expect(methods.getEventStoreServerVersion()).toMatch(/^23\./);
    expect(methods.getMethodsList().map((m) => m.getMethodName())).toContain('batchappend');
  });

  it('answers other services with UNIMPLEMENTED naming the method and this server', async () => {
    // Operations (scavenge, merge indexes, shutdown…) is one the embedded server does not serve.
    const raw = new OperationsClient(`127.0.0.1:${store.port}`, credentials.createInsecure());
    const err = await new Promise<{ code: number; details: string }>((resolve) =>
      raw.mergeIndexes(new Empty(), (e) => resolve(e as unknown as { code: number; details: string })),
    );
    raw.close();
    expect(err.code).toBe(12);
    expect(err.details).toContain('/event_store.client.operations.Operations/MergeIndexes');
    expect(err.details).toContain("Subledger's embedded");
  });

  it('a subscription catching up while appends race delivers every event once, in commit order', async () => {
    const tag = randomUUID().slice(0, 8);
    const stream = (k: number) => `race${tag}-${k % 7}`;
    for (let k = 0; k < 300; k++)
      await client.appendToStream(stream(k), jsonEvent({ type: 'Seq', data: { k } }));

    const subscription = client.subscribeToAll({
      fromPosition: START,
      filter: streamNameFilter({ prefixes: [`race${tag}-`] }),
    });
    const writer = (async () => {
      for (let k = 300; k < 900; k += 10) {
        await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            client.appendToStream(stream(k + j), jsonEvent({ type: 'Seq', data: { k: k + j } })),
          ),
        );
      }
    })();
    const seen: ResolvedEvent[] = [];
    for await (const e of subscription) {
      seen.push(e);
      if (seen.length === 900) break;
    }
    await writer;
    const positions = seen.map((e) => e.event!.position!.commit);
    expect(new Set(seen.map((e) => e.event!.id)).size).toBe(900);
    expect([...positions].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(positions);
    const ks = seen.map((e) => (e.event!.data as { k: number }).k);
    expect(ks.slice(0, 300)).toEqual(Array.from({ length: 300 }, (_, k) => k));
  });

  it('subscribing to a stream from END delivers only later events, after a caught-up signal', async () => {
    const stream = `late-${randomUUID()}`;
    await client.appendToStream(stream, jsonEvent({ type: 'Before', data: {} }));
    const subscription = client.subscribeToStream(stream, { fromRevision: END });
    await new Promise<void>((resolve) => subscription.once('caughtUp', () => resolve()));
    await client.appendToStream(stream, jsonEvent({ type: 'After', data: {} }));
    for await (const e of subscription) {
      expect(e.event?.type).toBe('After');
      expect(e.event?.revision).toBe(1n);
      break;
    }
  });

  it('reads $all backwards from a position as the events before it', async () => {
    const stream = `back-${randomUUID()}`;
    const results = [];
    for (let k = 0; k < 3; k++) {
      results.push(await client.appendToStream(stream, jsonEvent({ type: `E${k}`, data: {} })));
    }
    const before = await collect(
      client.readAll({ direction: 'backwards', fromPosition: results[2].position!, maxCount: 2 }),
    );
    expect(before.map((e) => e.event?.type)).toEqual(['E1', 'E0']);
    const from = await collect(client.readAll({ fromPosition: results[1].position!, maxCount: 2 }));
    expect(from.map((e) => e.event?.type)).toEqual(['E1', 'E2']);
  });
});

describe('restart through the client', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'es-restart-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps events and their positions, and continues revisions', async () => {
    let store = await startEmbeddedEventStore({ port: 0, dataDir: dir });
    let client = EventStoreDBClient.connectionString(store.connectionString);
    await client.appendToStream('acct-1', [
      jsonEvent({ type: 'A', data: {} }),
      jsonEvent({ type: 'B', data: {} }),
    ]);
    const before = await collect(client.readAll());
    await client.dispose();
    await store.close();

    store = await startEmbeddedEventStore({ port: 0, dataDir: dir });
    client = EventStoreDBClient.connectionString(store.connectionString);
    const after = await collect(client.readAll());
    // Everything is where it was; the restart only added its own $epoch-information event, as a real node does.
    expect(after.slice(0, before.length).map((e) => [e.event?.id, e.event?.position])).toEqual(
      before.map((e) => [e.event?.id, e.event?.position]),
    );
    expect(after.slice(before.length).map((e) => [e.event?.streamId, e.event?.revision])).toEqual([
      ['$epoch-information', 1n],
    ]);
    const next = await client.appendToStream('acct-1', jsonEvent({ type: 'C', data: {} }), {
      expectedRevision: 1n,
    });
    expect(next.nextExpectedRevision).toBe(2n);
    expect(next.position!.commit).toBeGreaterThan(before[before.length - 1].event!.position!.commit);
    await client.dispose();
    await store.close();
  });
});

describe('CLI', () => {
  it('prints one READY line with the connection string and stops cleanly on SIGTERM', async () => {
    const cli = path.join(__dirname, '../../src/embedded-eventstore/cli.ts');
    const child = spawn(
      process.execPath,
      [require.resolve('ts-node/dist/bin.js'), '--transpile-only', cli, '--port', '0', '--memory'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    const ready = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.startsWith('EMBEDDED_EVENTSTORE_READY '));
        if (line) resolve(line);
      });
      child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    expect(ready).toMatch(/^EMBEDDED_EVENTSTORE_READY esdb:\/\/127\.0\.0\.1:\d+\?tls=false$/);
    const client = EventStoreDBClient.connectionString(ready.split(' ')[1]);
    await client.appendToStream('cli-1', jsonEvent({ type: 'A', data: {} }));
    await client.dispose();
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out.trim().split('\n')).toHaveLength(1);
  });
});
