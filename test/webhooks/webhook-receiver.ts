import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the receiver does with the next requests: answer 2xx, fail (500), say gone (410), or never answer. */
export type ReceiverMode = 'ok' | 'fail' | 'gone' | 'hang';

export interface ReceivedWebhook {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** The answer it was given (undefined: none, the request hung until the sender gave up). */
  readonly answered: number | undefined;
}

/**
 * A real HTTP receiver on loopback whose behaviour a test switches on command: it records every
 * request it got (answered or not) and answers per path according to its mode.
 */
export class WebhookReceiver {
  readonly received: ReceivedWebhook[] = [];
  private readonly modes = new Map<string, ReceiverMode>();
  /** Per path, the modes the next requests get, one each, before `modes` applies again. */
  private readonly scripts = new Map<string, ReceiverMode[]>();
  private readonly hanging = new Set<() => void>();
  /** Each answer waits this long first (to keep deliveries in flight). */
  delayMs = 0;

  private constructor(
    private readonly server: Server,
    readonly baseUrl: string,
  ) {}

  static async start(): Promise<WebhookReceiver> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const receiver = new WebhookReceiver(server, `http://127.0.0.1:${port}`);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () =>
        receiver.handle(request.url ?? '/', request.headers, Buffer.concat(chunks), response),
      );
    });
    return receiver;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  setMode(path: string, mode: ReceiverMode): void {
    this.modes.set(path, mode);
  }

  /**
   * The next requests to `path` get these modes in turn, one request each; after them the path's
   * mode applies. Lets a test fix what each attempt meets without racing the sender's schedule.
   */
  script(path: string, modes: readonly ReceiverMode[]): void {
    this.scripts.set(path, [...modes]);
  }

  at(path: string): ReceivedWebhook[] {
    return this.received.filter((request) => request.path === path);
  }

  async stop(): Promise<void> {
    for (const release of this.hanging) release();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(path: string, headers: IncomingHttpHeaders, body: Buffer, response: ServerResponse): void {
    const mode = this.scripts.get(path)?.shift() ?? this.modes.get(path) ?? 'ok';
    const answer = mode === 'ok' ? 204 : mode === 'fail' ? 500 : mode === 'gone' ? 410 : undefined;
    this.received.push({ path, headers, body: body.toString('utf8'), answered: answer });
    if (answer === undefined) {
      // Held open until the sender times out and closes it (or the receiver stops).
      const release = () => response.destroy();
      this.hanging.add(release);
      response.on('close', () => this.hanging.delete(release));
      return;
    }
    const reply = () => response.writeHead(answer).end(answer === 204 ? undefined : 'nope');
    if (this.delayMs > 0) setTimeout(reply, this.delayMs);
    else reply();
  }
}
