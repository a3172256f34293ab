/**
 * The webhook delivery settings, read from the environment once at start (docs/webhooks.md).
 *
 * - `SUBLEDGER_WEBHOOK_ALLOW_PRIVATE=true`: allow targets on loopback, private and link-local
 *   addresses (internal services on a private network; the tests' loopback receiver). Refused by
 *   default (SSRF).
 * - `SUBLEDGER_WEBHOOK_TIMEOUT_MS` (default 10,000): one send, connection to end of the answer's headers.
 * - `SUBLEDGER_WEBHOOK_RETRY_SCHEDULE`: the pauses after each failed attempt, comma-separated
 *   milliseconds; the default is the ~3-day schedule below. Tests shorten it.
 */
export interface WebhookSettings {
  readonly allowPrivateTargets: boolean;
  readonly timeoutMs: number;
  /** Pause after the 1st, 2nd, … failed attempt; once exhausted the endpoint is disabled. */
  readonly retryScheduleMs: readonly number[];
  /** Each pause is multiplied by a random factor in [1 - jitter, 1 + jitter]. */
  readonly jitter: number;
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

/**
 * 15 attempts over about 3 days: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h, 12 h, 12 h,
 * 12 h, 12 h after the 1st to 14th failures (71 h 42 min 35 s in all, ±20% each); the 15th failure
 * disables the endpoint.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [
  5 * SECOND,
  30 * SECOND,
  2 * MINUTE,
  10 * MINUTE,
  30 * MINUTE,
  HOUR,
  2 * HOUR,
  4 * HOUR,
  8 * HOUR,
  8 * HOUR,
  12 * HOUR,
  12 * HOUR,
  12 * HOUR,
  12 * HOUR,
];

export function webhookSettingsFrom(env: NodeJS.ProcessEnv): WebhookSettings {
  const timeout = env.SUBLEDGER_WEBHOOK_TIMEOUT_MS?.trim();
  const timeoutMs = timeout ? Number(timeout) : 10 * SECOND;
  if (!Number.isInteger(timeoutMs) || timeoutMs < 100 || timeoutMs > 60 * SECOND) {
    throw new Error(`SUBLEDGER_WEBHOOK_TIMEOUT_MS must be an integer from 100 to 60000 (got "${timeout}")`);
  }
  const schedule = env.SUBLEDGER_WEBHOOK_RETRY_SCHEDULE?.trim();
  const retryScheduleMs = schedule
    ? schedule.split(',').map((part) => Number(part.trim()))
    : DEFAULT_RETRY_SCHEDULE_MS;
  if (retryScheduleMs.some((ms) => !Number.isInteger(ms) || ms < 0 || ms > 7 * 24 * HOUR)) {
    throw new Error(
      `SUBLEDGER_WEBHOOK_RETRY_SCHEDULE must be milliseconds separated by commas (got "${schedule}")`,
    );
  }
  return {
    allowPrivateTargets: env.SUBLEDGER_WEBHOOK_ALLOW_PRIVATE?.trim() === 'true',
    timeoutMs,
    retryScheduleMs,
    jitter: 0.2,
  };
}
