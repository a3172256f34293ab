import { ServerWritableStream } from '@grpc/grpc-js';

/**
 * Sends pre-encoded Read responses, many gRPC messages per HTTP/2 write.
 *
 * grpc-js writes one message at a time and waits for each write's completion before taking
 * the next, so a long read costs an event-loop round trip and a socket write per event. On
 * the wire a gRPC message is just `u8 compressed=0 | u32be length | bytes` inside DATA frames,
 * and messages may share frames; so when the call exposes its HTTP/2 stream (grpc-js 1.x
 * without interceptors) frames are batched and written straight to it. Headers still go
 * through grpc-js (`maybeSendMetadata`), and so does the status: grpc-js ends the stream
 * after our writes and sends the trailers. Anything else falls back to `call.write`.
 */

interface Http2StreamLike {
  write(chunk: Buffer): boolean;
  on(event: 'error', listener: () => void): unknown;
  once(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
  destroyed: boolean;
  closed: boolean;
  writableEnded: boolean;
}

interface BaseCallLike {
  stream: Http2StreamLike;
  maybeSendMetadata(): void;
}

/** Bytes gathered before one write; a few dozen events, well under a DATA frame window. */
const BATCH_BYTES = 64 * 1024;

export class FrameSink {
  private readonly raw: BaseCallLike | null;
  private parts: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly call: ServerWritableStream<unknown, Buffer>) {
    const inner = (call as unknown as { call?: Partial<BaseCallLike> }).call;
    this.raw =
      inner &&
      typeof inner.maybeSendMetadata === 'function' &&
      inner.stream &&
      typeof inner.stream.write === 'function'
        ? (inner as BaseCallLike)
        : null;
    // A write racing a client cancel must not become an unhandled stream error.
    this.raw?.stream.on('error', () => undefined);
  }

  private get closed(): boolean {
    const s = this.raw?.stream;
    return this.call.cancelled || (s !== undefined && (s.destroyed || s.closed || s.writableEnded));
  }

  /** Queues one message; resolves at once unless the batch is full and the peer is slow. */
  push(frame: Buffer): Promise<void> | void {
    if (!this.raw) {
      if (this.call.write(frame) || this.call.cancelled) return;
      return waitFor(this.call as unknown as Http2StreamLike);
    }
    const prefix = Buffer.allocUnsafe(5);
    prefix[0] = 0;
    prefix.writeUInt32BE(frame.length, 1);
    this.parts.push(prefix, frame);
    this.bytes += frame.length + 5;
    if (this.bytes >= BATCH_BYTES) return this.flush();
  }

  /** Writes what is queued; resolves when the stream can take more. */
  flush(): Promise<void> | void {
    if (!this.raw || this.bytes === 0) return;
    const chunk = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    if (this.closed) return;
    this.raw.maybeSendMetadata();
    if (!this.raw.stream.write(chunk)) return waitFor(this.raw.stream);
  }
}

function waitFor(stream: Http2StreamLike): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.once('drain', done);
    stream.once('close', done);
  });
}
