import { setFlagsFromString } from 'node:v8';
import { ConfigError } from '../config/app-config';

/**
 * How far V8 lets the old generation grow past what the last full collection left alive, in percent:
 * 100 is 2×, where V8 itself picks up to 4× for a busy process. Under sustained load the service's live
 * heap is ~45 MiB, and V8's own choice let the heap reach ~130 MiB of mostly garbage between full
 * collections: that kept the service's RSS after the scale bench's mixed load over SPEC §6's 256 MiB
 * (decision 67 has the figures, and what a lower bound costs in CPU and p99). Flags are process-wide,
 * so the projector thread gets the same.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 100;

/**
 * Sets V8's heap growing factor from `SUBLEDGER_HEAP_GROWING_PERCENT` (a whole number of percent; 0
 * leaves V8's own choice), else the default. `node --heap-growing-percent=N` on the command line wins.
 */
export function boundHeapGrowth(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): void {
  if (execArgv.some((arg) => /^--heap[-_]growing[-_]percent/.test(arg))) return;
  const configured = env.SUBLEDGER_HEAP_GROWING_PERCENT;
  const percent =
    configured === undefined || configured === '' ? DEFAULT_HEAP_GROWING_PERCENT : Number(configured);
  if (!Number.isInteger(percent) || percent < 0 || percent > 1000) {
    throw new ConfigError([
      `SUBLEDGER_HEAP_GROWING_PERCENT must be a whole number from 0 to 1000, not ${configured}`,
    ]);
  }
  if (percent > 0) setFlagsFromString(`--heap-growing-percent=${percent}`);
}
