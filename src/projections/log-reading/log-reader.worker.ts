import { parentPort, workerData } from 'node:worker_threads';
import { EventStoreDBClient } from '@eventstore/db-client';
import { readLogChunks, THREAD_READ_BUFFER_EVENTS } from './log-chunks';
import type { ReaderCommand, ReaderMessage, ReaderThreadData } from './log-reader-messages';

/**
 * The reader thread (`readLogChunksInThread` starts it): reads `$all` with a client of its own and
 * hands the chunks over, at most `ahead` of them not yet taken, so the client's decoding (~30 µs an
 * event) runs beside the thread that folds them instead of on it.
 */
async function main(): Promise<void> {
  const port = parentPort!;
  const data = workerData as ReaderThreadData;
  const post = (message: ReaderMessage) => port.postMessage(message);
  const client = EventStoreDBClient.connectionString(data.connectionString);
  let stopped = false;
  let taken = 0;
  let sent = 0;
  let wake: (() => void) | null = null;
  port.on('message', (command: ReaderCommand) => {
    if (command.type === 'taken') taken = command.count;
    else stopped = true;
    wake?.();
  });
  try {
    const from =
      data.from === null ? null : { commit: BigInt(data.from.commit), prepare: BigInt(data.from.prepare) };
    for await (const chunk of readLogChunks(client, from, () => stopped, THREAD_READ_BUFFER_EVENTS)) {
      post({ type: 'chunk', chunk });
      sent++;
      while (!stopped && sent - taken >= data.ahead) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
    post({ type: 'done' });
  } catch (error) {
    post({ type: 'failed', message: error instanceof Error ? error.message : String(error) });
  } finally {
    await client.dispose().catch(() => undefined);
    port.close();
  }
}

void main();
