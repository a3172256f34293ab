import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * What a verification found: every record intact, the first damaged one's offset, nothing (stopped by
 * a close), or nothing because it could not run (the log unreadable: `reason`).
 */
export type VerificationResult =
  | { kind: 'intact' }
  | { kind: 'damaged'; at: number }
  | { kind: 'stopped' }
  | { kind: 'failed'; reason: string };

/** A verification under way, and how to stop it (a close does not wait for it). */
export interface LogVerification {
  readonly result: Promise<VerificationResult>;
  stop(): Promise<void>;
}

/**
 * Checks the checksum of every record of `file` before `end` on a thread of its own, so that a store
 * opened from its index checkpoint takes calls at once while the log it did not read is checked (a
 * real node verifies its chunks' hashes in the background in the same way, and terminates if one
 * fails). Reading and checking 3 GB of log takes a core a few seconds.
 */
export function verifyLogInBackground(file: string, end: number): LogVerification {
  // Compiled: the .js beside this file. From sources (ts-node, jest): the .ts through ts-node.
  const fromSources = __filename.endsWith('.ts');
  const entry = path.join(__dirname, `log-verifier.worker.${fromSources ? 'ts' : 'js'}`);
  const workerData = { file, end };
  const worker = fromSources
    ? new Worker(`require('ts-node/register/transpile-only');\nrequire(${JSON.stringify(entry)});`, {
        eval: true,
        workerData,
      })
    : new Worker(entry, { workerData });
  let stopped = false;
  // Never rejects: whoever holds the store need not catch anything (the first outcome wins).
  const result = new Promise<VerificationResult>((resolve) => {
    worker.once('message', (reached: number) =>
      resolve(reached < end ? { kind: 'damaged', at: reached } : { kind: 'intact' }),
    );
    worker.once('error', (error) => resolve({ kind: 'failed', reason: error.message }));
    worker.once('exit', (code) =>
      resolve(
        stopped ? { kind: 'stopped' } : { kind: 'failed', reason: `the verifier exited (code ${code})` },
      ),
    );
  });
  return {
    result,
    async stop() {
      stopped = true;
      await worker.terminate();
    },
  };
}
