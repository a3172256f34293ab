import * as path from 'node:path';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts `<dir>/<name>.worker` as a worker thread: compiled, the `.js` beside the caller; from sources
 * (ts-node, jest), the `.ts` through ts-node. `dir` is the caller's `__dirname`, whose own file name
 * (`caller`, its `__filename`) says which of the two it is.
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
