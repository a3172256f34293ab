import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

/** What a verification found: every record intact, the first damaged one's offset, or nothing (stopped). */
export type VerificationResult = { kind: 'intact' } | { kind: 'damaged'; at: number } | { kind: 'stopped' };

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
  const result = new Promise<VerificationResult>((resolve, reject) => {
    worker.once('message', (reached: number) =>
      resolve(reached < end ? { kind: 'damaged', at: reached } : { kind: 'intact' }),
    );
    worker.once('error', reject);
    worker.once('exit', (code) =>
      stopped ? resolve({ kind: 'stopped' }) : reject(new Error(`the log verifier exited (code ${code})`)),
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
