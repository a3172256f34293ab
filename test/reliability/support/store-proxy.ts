import { createServer, connect, type Socket } from 'node:net';

/**
 * A TCP proxy between the service and its event store that can stop one direction at a chosen
 * message, so a test decides where a write is when the store dies instead of hoping for it:
 *
 * - `holdRequestsFrom(marker)`: the service→store bytes holding `marker` (say, an idempotency key
 *   inside an append) and everything after them stay in the proxy: the append is in flight and
 *   never reaches the store.
 * - `holdRepliesAfter(marker)`: those bytes go through, but nothing from the store reaches the
 *   service any more: the store may write and acknowledge the append, and the service never hears.
 *
 * Each resolves once its marker was seen. A connection ends when either side's does (a killed store
 * drops the service's connection, held bytes and all); `passAll` clears the holds for the next ones.
 */
export interface StoreProxy {
  readonly connectionString: string;
  holdRequestsFrom(marker: string): Promise<void>;
  holdRepliesAfter(marker: string): Promise<void>;
  passAll(): void;
  close(): Promise<void>;
}

interface Watch {
  marker: Buffer;
  seen: () => void;
}

export async function startStoreProxy(storePort: number): Promise<StoreProxy> {
  let requestWatch: Watch | undefined;
  let replyWatch: Watch | undefined;
  let holdingRequests = false;
  let holdingReplies = false;
  const sockets = new Set<Socket>();

  const server = createServer((service) => {
    const store = connect(storePort, '127.0.0.1');
    sockets.add(service).add(store);
    const end = () => {
      service.destroy();
      store.destroy();
      sockets.delete(service);
      sockets.delete(store);
    };
    service.on('error', end).on('close', end);
    store.on('error', end).on('close', end);
    // The last bytes of the previous chunk, so a marker split across two chunks is still found.
    let tail = Buffer.alloc(0);
    service.on('data', (chunk: Buffer) => {
      if (holdingRequests) return;
      const window = Buffer.concat([tail, chunk]);
      const longest = Math.max(requestWatch?.marker.length ?? 0, replyWatch?.marker.length ?? 0);
      tail = window.subarray(Math.max(0, window.length - longest + 1));
      if (requestWatch && window.includes(requestWatch.marker)) {
        holdingRequests = true;
        requestWatch.seen();
        requestWatch = undefined;
        return;
      }
      store.write(chunk);
      if (replyWatch && window.includes(replyWatch.marker)) {
        holdingReplies = true;
        replyWatch.seen();
        replyWatch = undefined;
      }
    });
    store.on('data', (chunk: Buffer) => {
      if (!holdingReplies) service.write(chunk);
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });

  const watch = (set: (w: Watch) => void, marker: string) =>
    new Promise<void>((resolve) => set({ marker: Buffer.from(marker, 'utf8'), seen: resolve }));

  return {
    connectionString: `esdb://127.0.0.1:${port}?tls=false`,
    holdRequestsFrom: (marker) => watch((w) => (requestWatch = w), marker),
    holdRepliesAfter: (marker) => watch((w) => (replyWatch = w), marker),
    passAll() {
      requestWatch = replyWatch = undefined;
      holdingRequests = holdingReplies = false;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
