import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { BACKWARDS, END, EventStoreDBClient, jsonEvent, type ResolvedEvent } from '@eventstore/db-client';
import { EmbeddedEventStore, startEmbeddedEventStore } from '../../src/embedded-eventstore';

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

async function readOrEmpty(client: EventStoreDBClient, stream: string): Promise<ResolvedEvent[]> {
  try {
    return await collect(client.readStream(stream, { resolveLinkTos: true }));
  } catch (error) {
    if ((error as { type?: string }).type === 'stream-not-found') return [];
    throw error;
  }
}

/**
 * What only the embedded server can promise about its standard projections: they are views of its index,
 * rebuilt from the log on open with the same revisions and link ids, their enabled state survives a
 * restart, they add nothing to `$all`, and a new log can start with them stopped.
 */
describe('embedded standard projections across restarts', () => {
  let dir: string;
  let store: EmbeddedEventStore | undefined;
  let client: EventStoreDBClient | undefined;

  const open = async (opts: { startStandardProjections?: boolean } = {}) => {
    await client?.dispose();
    await store?.close();
    store = await startEmbeddedEventStore({ port: 0, dataDir: dir, ...opts });
    client = EventStoreDBClient.connectionString(store.connectionString);
    return client;
  };

  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'es-sysproj-'));
  });
  afterEach(async () => {
    await client?.dispose();
    await store?.close();
    client = undefined;
    store = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes one $epoch-information per start, each naming the one before', async () => {
    await open();
    await open();
    const c = await open();
    const epochs = await collect(c.readStream('$epoch-information'));
    const data = epochs.map((e) => e.event!.data as { epochNumber: number; prevEpochPosition: number });
    expect(data.map((d) => d.epochNumber)).toEqual([0, 1, 2]);
    expect(data.map((d) => d.prevEpochPosition)).toEqual([
      -1,
      Number(epochs[0].event!.position!.commit),
      Number(epochs[1].event!.position!.commit),
    ]);
  });

  it('rebuilds $ce-, $et- and $streams with the same revisions and link ids after a restart', async () => {
    let c = await open();
    await c.appendToStream('acct-1', [
      jsonEvent({ type: 'Opened', data: {} }),
      jsonEvent({ type: 'Used', data: {} }),
    ]);
    await c.appendToStream('acct-2', jsonEvent({ type: 'Opened', data: {} }));
    const views = ['$ce-acct', '$et-Opened', '$streams', '$category-acct'];
    const shape = async (client: EventStoreDBClient) =>
      Promise.all(
        views.map(async (v) =>
          (await readOrEmpty(client, v)).map(({ event, link }) => [
            link?.id ?? event!.id,
            event!.id,
            event!.revision,
          ]),
        ),
      );
    const before = await shape(c);
    expect(before.map((v) => v.length)).toEqual([3, 2, 2, 2]);
    c = await open();
    expect(await shape(c)).toEqual(before);
  });

  it('keeps a disabled projection stopped across a restart, and links what it missed once enabled', async () => {
    let c = await open();
    await c.disableProjection('$by_category');
    await c.appendToStream('acct-1', jsonEvent({ type: 'Opened', data: {} }));
    c = await open();
    expect((await c.getProjectionStatus('$by_category')).projectionStatus).toBe('Stopped');
    expect((await c.getProjectionStatus('$by_event_type')).projectionStatus).toBe('Running');
    expect(await readOrEmpty(c, '$ce-acct')).toEqual([]);
    expect(await readOrEmpty(c, '$et-Opened')).toHaveLength(1);

    await c.enableProjection('$by_category');
    await c.appendToStream('acct-2', jsonEvent({ type: 'Opened', data: {} }));
    const linked = async (client: EventStoreDBClient) =>
      (await readOrEmpty(client, '$ce-acct')).map(({ event, link }) => [event!.streamId, link!.revision]);
    expect(await linked(c)).toEqual([
      ['acct-1', 0n],
      ['acct-2', 1n],
    ]);
    c = await open();
    expect(await linked(c)).toEqual([
      ['acct-1', 0n],
      ['acct-2', 1n],
    ]);
  });

  it('adds nothing to $all: no link event is ever written', async () => {
    const c = await open();
    await c.appendToStream('acct-1', [
      jsonEvent({ type: 'Opened', data: {} }),
      jsonEvent({ type: 'Used', data: {} }),
    ]);
    const all = await collect(c.readAll());
    expect(all.filter(({ event }) => event!.type === '$>')).toEqual([]);
    expect(
      all.filter(({ event }) => !event!.streamId.startsWith('$')).map(({ event }) => event!.type),
    ).toEqual(['Opened', 'Used']);
    expect(await readOrEmpty(c, '$ce-acct')).toHaveLength(2);
  });

  it('starts a new log with them stopped when asked, and keeps that state once recorded', async () => {
    let c = await open({ startStandardProjections: false });
    await c.appendToStream('acct-1', jsonEvent({ type: 'Opened', data: {} }));
    const statuses = (await c.listProjections()).map((p) => p.projectionStatus);
    expect(statuses).toEqual(['Stopped', 'Stopped', 'Stopped', 'Stopped']);
    expect(await readOrEmpty(c, '$ce-acct')).toEqual([]);
    expect(await readOrEmpty(c, '$streams')).toEqual([]);
    // The option only decides for a log that has not recorded them yet.
    c = await open({ startStandardProjections: true });
    expect((await c.getProjectionStatus('$streams')).projectionStatus).toBe('Stopped');
    const [last] = await collect(c.readAll({ direction: BACKWARDS, fromPosition: END, maxCount: 1 }));
    expect(last.event!.streamId).toBe('$epoch-information');
  });
});
