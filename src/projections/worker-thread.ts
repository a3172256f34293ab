import * as path from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts `<name>.worker` beside `caller` (the caller's `__filename`) as a worker thread: compiled, the
 * `.js`; from sources (ts-node, jest), the `.ts` through ts-node. The caller's own extension says which.
 */
export function startWorkerThread(
  caller: string,
  name: string,
  options: Pick<WorkerOptions, 'workerData' | 'resourceLimits'>,
): Worker {
  const fromSources = caller.endsWith('.ts');
  const entry = path.join(path.dirname(caller), `${name}.worker.${fromSources ? 'ts' : 'js'}`);
  return fromSources
    ? new Worker(`require('ts-node/register/transpile-only');\nrequire(${JSON.stringify(entry)});`, {
        eval: true,
        ...options,
      })
    : new Worker(entry, options);
}
