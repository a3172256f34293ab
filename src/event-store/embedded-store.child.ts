import * as fs from 'node:fs';
import * as path from 'node:path';
import { exitOnDamagedLog, startEmbeddedEventStore } from '../embedded-eventstore';
import { isProcessAlive } from '../kernel/process-alive';

/**
 * The embedded store as a child of the service (`embedded-store.process.ts` starts it): its own
 * process, so it works on the second core instead of sharing the service's event loop. It serves
 * exactly as `npm run eventstore` does, plus two duties a child has:
 *
 * - **It dies with its parent**, even one killed with `kill -9`: the parent holds the other end of
 *   this process's stdin and never writes to it; the kernel closes it when the parent goes, however
 *   it goes, and the end of stdin closes the store (flushing what it holds) and exits.
 * - **One store per data folder.** A parent killed and restarted at once could start a second child
 *   while the first is still closing; two writers on one log would corrupt it. The child holds
 *   `eventstore.lock` (its pid, created exclusively) and a newcomer waits until that pid is gone.
 *
 * Durability is the store's own: an append is acknowledged only once fsync'd, whoever is killed.
 */

export const LOCK_FILE = 'eventstore.lock';
/** The running store's connection string, for the command-line tools that join it (SPEC §8). */
export const ENDPOINT_FILE = 'eventstore.endpoint';
const READY = 'EMBEDDED_EVENTSTORE_READY';

/**
 * The connection string of the store that serves `dataDir` right now, if one does: the lock's holder
 * is alive and has published where it listens. The tools (`npm run replay`, `npm run rebuild`) join
 * it through the client instead of opening the log a second time.
 */
export function runningStoreOn(dataDir: string): string | undefined {
  let holder: number;
  let endpoint: string;
  try {
    holder = Number(fs.readFileSync(path.join(dataDir, LOCK_FILE), 'utf8'));
    endpoint = fs.readFileSync(path.join(dataDir, ENDPOINT_FILE), 'utf8').trim();
  } catch {
    return undefined;
  }
  if (!Number.isInteger(holder) || holder <= 0 || !isProcessAlive(holder)) return undefined;
  return /^esdb:\/\/\S+$/.test(endpoint) ? endpoint : undefined;
}

/** Writes the endpoint beside the lock (atomically: a tool never reads half of it); returns its removal. */
function publishEndpoint(dataDir: string, connectionString: string): () => void {
  const file = path.join(dataDir, ENDPOINT_FILE);
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, `${connectionString}\n`);
  fs.renameSync(temporary, file);
  return () => fs.rmSync(file, { force: true });
}

/** Takes the data folder's lock, waiting for a live holder to go; a dead holder's lock is taken over. */
export async function acquireLock(dataDir: string, waitMs: number): Promise<() => void> {
  fs.mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, LOCK_FILE);
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return () => {
        try {
          if (fs.readFileSync(file, 'utf8') === String(process.pid)) fs.unlinkSync(file);
        } catch {
          // already gone
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    let holder: number;
    try {
      holder = Number(fs.readFileSync(file, 'utf8'));
    } catch {
      continue; // released between our open and our read
    }
    if (!Number.isInteger(holder) || holder <= 0 || holder === process.pid || !isProcessAlive(holder)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${file} is held by the running process ${holder}; is another service using ${dataDir}?`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

async function main(): Promise<void> {
  const [flag, dataDir] = process.argv.slice(2);
  if (flag !== '--db' || !dataDir) throw new Error('usage: embedded-store.child --db <folder>');
  let stopping = false;
  let release = (): void => undefined;
  let close = (): Promise<void> => Promise.resolve();
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // A store that cannot close in time is cut: what it acknowledged is on disk already.
    setTimeout(() => process.exit(1), 20_000).unref();
    close().then(
      () => {
        release();
        process.exit(0);
      },
      (error: Error) => {
        release();
        process.stderr.write(`embedded store: error while closing: ${error.message}\n`);
        process.exit(1);
      },
    );
  };
  // The parent's death (stdin ends) or its request (SIGTERM): the same clean close.
  process.stdin.on('end', stop).on('close', stop).on('error', stop).resume();
  process.on('SIGTERM', stop);
  // Ctrl-C reaches the whole process group; the service shuts down gracefully on it and still
  // appends while it drains, then closes this store itself. So SIGINT is the parent's to act on.
  process.on('SIGINT', () => undefined);

  release = await acquireLock(dataDir, 30_000);
  process.on('exit', () => release());
  if (stopping) return process.exit(0);
  const store = await startEmbeddedEventStore({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    onLogDamaged: exitOnDamagedLog,
  });
  const unpublish = publishEndpoint(dataDir, store.connectionString);
  const releaseLock = release;
  release = () => {
    unpublish();
    releaseLock();
  };
  close = () => store.close();
  if (stopping) {
    stopping = false;
    return stop();
  }
  process.stdout.write(`${READY} ${store.connectionString}\n`);
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`embedded store failed to start: ${error.message}\n`);
    process.exit(1);
  });
}
