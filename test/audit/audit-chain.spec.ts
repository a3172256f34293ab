import { jsonEvent } from '@eventstore/db-client';
import fc from 'fast-check';
import { verifyChain } from '../../src/audit/audit-chain.verifier';
import {
  CHAIN_GENESIS,
  canonicalJson,
  chainHash,
  chainLinkOf,
  metadataWithoutChain,
} from '../../src/event-store/command-processing/audit-chain';
import { CommandProcessor, fromResolvedEvent } from '../../src/event-store/command-processing';
import { collect, startTestEventStore, uniqueStream, type TestEventStore } from '../support/event-store';
import {
  accountDecider,
  cloningAccountDecider,
  type AccountCommand,
} from '../command-processing/toy-account.decider';

const deposit = (amount: number, opId: string): AccountCommand => ({ type: 'Deposit', opId, amount });

describe('canonical JSON of the audit chain', () => {
  it('sorts keys, drops undefined members, writes numbers as JSON does and refuses non-finite numbers', () => {
    expect(canonicalJson({ b: [1, undefined, 'x'], a: { d: 1e21, c: -0, e: 0.1 }, z: undefined })).toBe(
      '{"a":{"c":0,"d":1e+21,"e":0.1},"b":[1,null,"x"]}',
    );
    expect(canonicalJson({ é: 1, e: 2, E: 3 })).toBe('{"E":3,"e":2,"é":1}');
    expect(() => canonicalJson({ n: Number.NaN })).toThrow(/NaN/);
  });

  it('writes strings exactly as JSON.stringify does, escapes and lone surrogates included', () => {
    for (const text of [
      'plain',
      'a"b',
      'back\\slash',
      'tab\there',
      '\u0000\u001f',
      '😀',
      '\ud800',
      'x\udc00y',
      '\u2028',
      '\u007f',
    ])
      expect(canonicalJson({ [text]: text })).toBe(`{${JSON.stringify(text)}:${JSON.stringify(text)}}`);
  });

  it("is JSON.stringify with every object's keys sorted by code unit (property)", () => {
    // The rule spelled out plainly: keys sorted by code unit at every level, the rest as JSON.stringify.
    const reference = (value: unknown): string =>
      Array.isArray(value)
        ? `[${value.map(reference).join(',')}]`
        : typeof value === 'object' && value !== null
          ? `{${Object.keys(value)
              .sort()
              .map((key) => `${JSON.stringify(key)}:${reference((value as Record<string, unknown>)[key])}`)
              .join(',')}}`
          : JSON.stringify(value);
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expect(canonicalJson(value)).toBe(reference(value));
      }),
      { numRuns: 500 },
    );
  });

  it('hashes prev, a newline and the canonical {data, metadata, type} with SHA-256', () => {
    const hash = chainHash(CHAIN_GENESIS, 'Deposited', { amount: 1 }, canonicalJson({ actor: 'x' }));
    const { createHash } = jest.requireActual<typeof import('node:crypto')>('node:crypto');
    expect(hash).toBe(
      createHash('sha256')
        .update(`${CHAIN_GENESIS}\n{"data":{"amount":1},"metadata":{"actor":"x"},"type":"Deposited"}`)
        .digest('hex'),
    );
  });
});

describe('the audit chain written by the command processor', () => {
  let store: TestEventStore;

  beforeAll(async () => {
    store = await startTestEventStore();
  });

  afterAll(async () => {
    await store.stop();
  });

  async function links(stream: string) {
    const events = (await collect(store.client.readStream(stream))).map((e) => fromResolvedEvent(e)!);
    return events.map((event) => ({ event, link: chainLinkOf(event.metadata)! }));
  }

  it('links every event to the one before it, in one batch and across batches, with the envelope hashed', async () => {
    const stream = uniqueStream('account');
    const processor = new CommandProcessor({
      client: store.client,
      decider: accountDecider,
      snapshots: false,
    });
    await Promise.all(
      [1, 2, 3].map((n) =>
        processor.execute(stream, deposit(n, `op-${n}`), { metadata: { requestId: `r${n}` } }),
      ),
    );
    await processor.execute(stream, deposit(4, 'op-4'));
    await processor.close();

    const chain = await links(stream);
    expect(chain).toHaveLength(4);
    let prev = CHAIN_GENESIS;
    for (const { event, link } of chain) {
      expect(link.prev).toBe(prev);
      expect(link.hash).toBe(
        chainHash(prev, event.type, event.data, canonicalJson(metadataWithoutChain(event.metadata))),
      );
      prev = link.hash;
    }
    expect(chain[0].event.metadata.requestId).toBe('r1');
    const verification = await verifyChain(store.client, stream);
    expect(verification).toEqual({
      verified: true,
      streamName: stream,
      events: 4,
      unchained: 0,
      head: prev,
      headRevision: 3,
    });
  });

  it('continues the chain after a restart from a snapshot with no tail, and from a snapshot with a tail', async () => {
    const stream = uniqueStream('account');
    const first = new CommandProcessor({
      client: store.client,
      decider: accountDecider,
      snapshots: { every: 2 },
    });
    for (let n = 1; n <= 4; n++) await first.execute(stream, deposit(n, `op-${n}`));
    await first.close();

    // A fresh process: the state comes from the snapshot, the head from the stream's last event.
    const second = new CommandProcessor({
      client: store.client,
      decider: accountDecider,
      snapshots: { every: 2 },
    });
    await second.execute(stream, deposit(5, 'op-5'));
    await second.close();
    // Snapshot at revision 3 or 4, at least one event after it.
    const third = new CommandProcessor({
      client: store.client,
      decider: accountDecider,
      snapshots: { every: 100 },
    });
    await third.execute(stream, deposit(6, 'op-6'));
    await third.close();

    const verification = await verifyChain(store.client, stream);
    expect(verification).toMatchObject({ verified: true, events: 6, headRevision: 5 });
    expect(verification?.head).toBe((await links(stream))[5].link.hash);
  });

  it('stays one chain while two processors race on one stream', async () => {
    const stream = uniqueStream('account');
    const options = { client: store.client, snapshots: false as const, exclusiveWriter: false };
    const a = new CommandProcessor({ ...options, decider: accountDecider });
    const b = new CommandProcessor({ ...options, decider: cloningAccountDecider });
    const sends: Promise<unknown>[] = [];
    for (let n = 0; n < 40; n++) sends.push((n % 2 ? a : b).execute(stream, deposit(1, `op-${n}`)));
    const settled = await Promise.allSettled(sends);
    await Promise.all([a.close(), b.close()]);
    const appended = settled.filter((s) => s.status === 'fulfilled').length;
    expect(appended).toBeGreaterThan(0);
    expect(await verifyChain(store.client, stream)).toMatchObject({ verified: true, events: appended });
  });

  it('starts at the first chained event when older history has no links, and reports an event without one after it', async () => {
    const stream = uniqueStream('account');
    await store.client.appendToStream(stream, [
      jsonEvent({ type: 'Deposited', data: { opId: 'old', amount: 1, balance: 1 } }),
    ]);
    const processor = new CommandProcessor({
      client: store.client,
      decider: accountDecider,
      snapshots: false,
    });
    await processor.execute(stream, deposit(2, 'op-2'));
    await processor.close();
    expect(await verifyChain(store.client, stream)).toMatchObject({
      verified: true,
      events: 1,
      unchained: 1,
    });

    await store.client.appendToStream(stream, [
      jsonEvent({ type: 'Deposited', data: { opId: 'forged', amount: 1, balance: 4 } }),
    ]);
    const broken = await verifyChain(store.client, stream);
    expect(broken).toMatchObject({
      verified: false,
      events: 2,
      headRevision: 1,
      firstBreak: { revision: 2, found: null },
    });
  });

  it('checks a range from a later revision, anchored on the stored prev of its first event', async () => {
    const stream = uniqueStream('account');
    const processor = new CommandProcessor({
      client: store.client,
      decider: accountDecider,
      snapshots: false,
    });
    for (let n = 1; n <= 5; n++) await processor.execute(stream, deposit(n, `op-${n}`));
    await processor.close();
    const chain = await links(stream);
    expect(await verifyChain(store.client, stream, { from: 2, to: 3 })).toMatchObject({
      verified: true,
      events: 2,
      head: chain[3].link.hash,
      headRevision: 3,
    });
    expect(await verifyChain(store.client, uniqueStream('missing'))).toBeUndefined();
  });
});
