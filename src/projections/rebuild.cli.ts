import { startWorkerThread } from './worker-thread';

/**
 * The rebuild's young generation, MiB (three semi-spaces of 64). The rebuild folds millions of events
 * that arrive from the reader thread in chunks and live until their batch is written: with V8's default
 * (16 MiB semi-spaces) most of them survived a scavenge and were promoted, and garbage collection took
 * 14% of the folding thread; with this, 8% (decision 85). Only a thread's young generation can be set
 * from inside the program, so the rebuild runs on one.
 */
const REBUILD_YOUNG_GENERATION_MB = 192;

/**
 * `npm run rebuild`: folds the whole log again into every projection's tables (rebuild.worker.ts), on a
 * worker thread of this process. What it prints, it prints; a failure it reports sets the exit code.
 */
function main(): void {
  const worker = startWorkerThread(__filename, 'rebuild', {
    resourceLimits: { maxYoungGenerationSizeMb: REBUILD_YOUNG_GENERATION_MB },
  });
  worker.on('error', (error) => {
    process.stderr.write(`Rebuild failed: ${error.message}\n`);
    process.exitCode = 1;
  });
  worker.on('exit', (code) => {
    if (code !== 0) process.exitCode = 1;
  });
}

main();
