import type { Server } from 'node:http';
import type { FastifyInstance } from 'fastify';

/** How long a shutdown waits for requests in flight before it cuts what is left. */
export const DEFAULT_SHUTDOWN_GRACE_MS = 25_000;

/**
 * The HTTP half of an orderly stop (SPEC §7): stop accepting, let every request in flight finish
 * against a service that is still whole, and only then let Nest close the modules behind them (the
 * command processor, the projections, the event-store client).
 *
 * Nest's own `app.close()` runs the modules' shutdown hooks *before* it closes the HTTP server, so a
 * request in flight at SIGTERM met a closed command processor (503). `drain()` runs first instead:
 *
 * 1. the listening socket closes (no new connections) and idle keep-alive connections are closed;
 * 2. a request that still arrives on an open connection is served, answered with `connection: close`;
 * 3. once no request is in flight (or `graceMs` has passed), every connection left is closed — the
 *    live event feeds (SSE) among them, whose clients reconnect elsewhere with `Last-Event-ID`.
 *
 * Event-stream requests are not waited for: they end only when their client goes.
 */
export class HttpDrain {
  private inFlight = 0;
  private draining = false;
  private drained: Promise<void> | undefined;

  constructor(private readonly fastify: FastifyInstance) {
    fastify.addHook('onRequest', (request, reply, done) => {
      if (!(request.headers.accept ?? '').includes('text/event-stream')) {
        this.inFlight += 1;
        reply.raw.once('close', () => {
          this.inFlight -= 1;
        });
      }
      done();
    });
    fastify.addHook('onSend', (_request, reply, payload, done) => {
      if (this.draining) void reply.header('connection', 'close');
      done(null, payload);
    });
  }

  /** Requests being handled right now, live event feeds not counted. */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Idempotent: a second call (a second signal) waits for the same drain. */
  drain(graceMs = DEFAULT_SHUTDOWN_GRACE_MS): Promise<void> {
    this.drained ??= this.run(graceMs);
    return this.drained;
  }

  private async run(graceMs: number): Promise<void> {
    this.draining = true;
    const server = this.fastify.server as Server;
    if (server.listening) server.close();
    const deadline = Date.now() + graceMs;
    while (this.inFlight > 0 && Date.now() < deadline) {
      server.closeIdleConnections();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    server.closeAllConnections();
  }
}
