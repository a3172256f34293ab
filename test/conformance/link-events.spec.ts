import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { START, type EventData } from '@eventstore/db-client';
import { collect, startTestEventStore, uniquePrefix, type TestEventStore } from '../support/event-store';
import { receiveUntil, testEvents } from './conformance.helpers';

/**
 * Link events (type `$>`, data `<revision>@<stream>`) and resolveLinkTos. The application does not
 * write links itself, but category and projection streams on a real server are made of them, so a
 * consumer written against the embedded server must see them resolved the same way.
 */
describe('link events and resolveLinkTos', () => {
  let store: TestEventStore;
  let prefix: string;
  let target: string;
  let links: string;
  let targetEvents: EventData[];
  let link: EventData;

  beforeAll(async () => {
    store = await startTestEventStore();
    prefix = uniquePrefix('links');
    target = `${prefix}-target`;
    links = `${prefix}-links`;
    targetEvents = testEvents(3, 'target');
    link = {
      id: randomUUID(),
      contentType: 'application/octet-stream',
      type: '$>',
      data: Buffer.from(`1@${target}`),
      metadata: undefined,
    };
    await store.client.appendToStream(target, targetEvents);
    await store.client.appendToStream(links, link);
  });

  afterAll(async () => {
    await store?.stop();
  });

  it('reads the link itself without resolveLinkTos', async () => {
    const [read] = await collect(store.client.readStream(links));
    expect(read.link).toBeUndefined();
    expect(read.event!.type).toBe('$>');
    expect(read.event!.id).toBe(link.id);
    expect(Buffer.from(read.event!.data as Uint8Array).toString()).toBe(`1@${target}`);
  });

  it('resolves the link on a stream read', async () => {
    const [read] = await collect(store.client.readStream(links, { resolveLinkTos: true }));
    expect(read.event!.id).toBe(targetEvents[1].id);
    expect(read.event!.streamId).toBe(target);
    expect(read.event!.revision).toBe(1n);
    expect(read.event!.data).toEqual({ index: 1, tag: 'target' });
    expect(read.link!.id).toBe(link.id);
    expect(read.link!.streamId).toBe(links);
    expect(read.link!.revision).toBe(0n);
  });

  it('resolves the link on a $all read', async () => {
    const read = (await collect(store.client.readAll({ resolveLinkTos: true }))).filter(
      ({ link }) => link?.streamId === links,
    );
    expect(read).toHaveLength(1);
    expect(read[0].event!.id).toBe(targetEvents[1].id);
    expect(read[0].link!.id).toBe(link.id);
  });

  it('resolves the link on a stream subscription', async () => {
    const subscription = store.client.subscribeToStream(links, { fromRevision: START, resolveLinkTos: true });
    try {
      const { finished } = receiveUntil(subscription, (received) => received.length >= 1);
      await once(subscription, 'confirmation');
      const [delivered] = await finished;
      expect(delivered.event!.id).toBe(targetEvents[1].id);
      expect(delivered.link!.id).toBe(link.id);
    } finally {
      await subscription.unsubscribe();
    }
  });
});
