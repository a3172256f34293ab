import { connect, type ClientHttp2Session, type Settings } from 'node:http2';
import {
  RECEIVE_WINDOW_BYTES,
  startEmbeddedEventStore,
  type EmbeddedEventStore,
} from '../../src/embedded-eventstore/embedded-eventstore.server';

/**
 * The server widens HTTP/2's 64 KiB default receive window so a client's appends in flight (all on
 * one BatchAppend stream, ~95 KB per batch of 100 ledger events) are not throttled to one window per
 * round trip. This checks what a client actually sees on the wire.
 */
describe('embedded store HTTP/2 flow control', () => {
  let store: EmbeddedEventStore;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    store = await startEmbeddedEventStore({ port: 0, memory: true });
  });

  afterAll(async () => {
    session?.close();
    await store.close();
  });

  it('grants each stream and the connection a receive window of RECEIVE_WINDOW_BYTES', async () => {
    expect(RECEIVE_WINDOW_BYTES).toBeGreaterThan(3 * 1024 * 1024);
    session = connect(`http://127.0.0.1:${store.port}`);
    // The first SETTINGS carries Node's defaults; the widened window follows in a second one.
    const widened = await new Promise<Settings>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no SETTINGS with the widened window')), 10_000);
      session.on('remoteSettings', (settings) => {
        if (settings.initialWindowSize === RECEIVE_WINDOW_BYTES) {
          clearTimeout(timer);
          resolve(settings);
        }
      });
      session.on('error', reject);
    });
    expect(widened.initialWindowSize).toBe(RECEIVE_WINDOW_BYTES);
    // The connection-level window arrives as a WINDOW_UPDATE; a PING round trip guarantees it was read.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    expect(session.state.remoteWindowSize).toBe(RECEIVE_WINDOW_BYTES);
  });
});
