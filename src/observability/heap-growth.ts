import { setFlagsFromString } from 'node:v8';
import { ConfigError } from '../config/app-config';

/**
 * How far V8 lets the old generation grow past what the last full collection left alive, in percent:
 * 70 is 1.7×, where V8 itself picks up to 4× for a busy process. Under sustained load the service's live
 * heap is ~45–50 MiB (most of it the code of the service and its libraries), and V8's own choice let
 * the heap reach ~130 MiB of mostly garbage between full collections: that kept the service's RSS after
 * the scale bench's mixed load over SPEC §6's 256 MiB. 100 (2×, decision 67) still left it at 261 MiB
 * at 5M events; 70 (decision 79) takes ~12–15 MiB more off for no CPU cost the bench could see (both
 * decisions have the figures, and what 50 costs). Flags are process-wide, so the projector thread gets
 * the same.
 */
export const DEFAULT_HEAP_GROWING_PERCENT = 70;

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
