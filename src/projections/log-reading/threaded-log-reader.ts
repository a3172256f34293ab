import type { LogPosition } from '../projection';
import { startWorkerThread } from '../worker-thread';
import type { LogChunk } from './log-chunks';
import type { ReaderCommand, ReaderMessage, ReaderThreadData } from './log-reader-messages';

/** Chunks (of 1,000 events) the reader thread may run ahead of the folding thread. */
const CHUNKS_AHEAD = 8;
/**
 * The reader thread's young generation, MiB (three semi-spaces of 32): the client's decoding makes
 * several short-lived objects an event, and each scavenge copies the chunk being gathered. Profiled
 * (decision 85): GC 9.3% of the thread with V8's default, 8.8% with this, 6.7% with 64 MiB semi-spaces.
 */
const READER_YOUNG_GENERATION_MB = 96;

/**
 * `readLogChunks` on a thread of its own, with its own client on `connectionString`: the same chunks,
 * read and decoded beside the thread that folds them. Used where the log is read to its end in bulk
 * (the rebuild tool, a catch-up); the live subscription stays on the runner's thread.
 *
 * The reader stays at most CHUNKS_AHEAD chunks ahead. Once `stopped()` (asked before each chunk) says
 * so, no chunk is handed on any more and the thread ends the page it is reading (the client needs a
 * read consumed to its end), as `readLogChunks` does; `return` on the iterator stops it the same way.
 */
export async function* readLogChunksInThread(
  connectionString: string,
  from: LogPosition | null,
  stopped: () => boolean = () => false,
): AsyncGenerator<LogChunk> {
  const workerData: ReaderThreadData = {
    connectionString,
    from: from === null ? null : { commit: from.commit.toString(), prepare: from.prepare.toString() },
    ahead: CHUNKS_AHEAD,
  };
  const resourceLimits = { maxYoungGenerationSizeMb: READER_YOUNG_GENERATION_MB };
  const worker = startWorkerThread(__filename, 'log-reader', { workerData, resourceLimits });
  const received: ReaderMessage[] = [];
  let wake: (() => void) | null = null;
  let crashed: Error | null = null;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.on('message', (message: ReaderMessage) => {
    received.push(message);
    wake?.();
  });
  worker.on('error', (error) => {
    crashed = error;
    wake?.();
  });
  // Its last messages are delivered before its exit is seen here (a turn later, to be sure).
  void exited.then(() =>
    setImmediate(() => {
      crashed ??= new Error('The log reader thread exited before the end of the log');
      wake?.();
    }),
  );
  let taken = 0;
  let done = false;
  let stopSent = false;
  try {
    for (;;) {
      const message = received.shift();
      if (message === undefined) {
        if (crashed) throw crashed;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (message.type === 'failed') {
        done = true;
        throw new Error(`Reading the log failed: ${message.message}`);
      }
      if (message.type === 'done') {
        done = true;
        return;
      }
      // Told to stop: the chunks already handed over are dropped, and the thread ends its page.
      if (!stopSent && stopped()) {
        stopSent = true;
        worker.postMessage({ type: 'stop' } satisfies ReaderCommand);
      }
      if (stopSent) continue;
      yield message.chunk;
      worker.postMessage({ type: 'taken', count: ++taken } satisfies ReaderCommand);
    }
  } finally {
    // At the end (or after a failure) the thread has nothing left to do; stopped early, it ends its page.
    if (done || crashed) await worker.terminate();
    else {
      worker.postMessage({ type: 'stop' } satisfies ReaderCommand);
      await exited;
    }
  }
}
