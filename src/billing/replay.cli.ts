import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from '../config/app-config';
import { EventStoreConnection } from '../event-store/event-store-client.provider';
import { isBillingPeriod } from '../invoicing';
import { replayPeriod } from './application/period-replay';

/**
 * `ts-node src/billing/replay.cli.ts --parent <id> --period <YYYY-MM> [--now <instant>]`: the
 * replay of `GET …/billing-periods/{period}/replay`, offline, as JSON on stdout. It reads the
 * store named by EVENTSTORE_CONNECTION_STRING, or the embedded store on SUBLEDGER_DATA_DIR: through
 * the running service's store when one serves that folder, else by opening it itself. Exit code 0 when
 * the period matches, 2 when it does not, 1 on error. An open period is drafted as of `--now`
 * (default: the wall clock) from the same fold.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { parent: { type: 'string' }, period: { type: 'string' }, now: { type: 'string' } },
    strict: true,
  });
  if (!values.parent || !values.period || !isBillingPeriod(values.period)) {
    throw new Error('usage: replay --parent <parentId> --period <YYYY-MM> [--now <ISO instant>]');
  }
  const now = values.now === undefined ? new Date() : new Date(values.now);
  if (Number.isNaN(now.getTime())) throw new Error('--now must be an ISO 8601 instant');
  // stdout carries the report alone; the embedded store's start-up lines would corrupt it.
  Logger.overrideLogger(['error', 'warn']);
  const config = loadConfig(process.env);
  const connection = await EventStoreConnection.open(config.eventStore, { joinRunning: true });
  try {
    const report = await replayPeriod(connection.client, values.parent, values.period, { now });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.matches ? 0 : 2;
  } finally {
    await connection.onApplicationShutdown();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`Replay failed: ${message}\n`);
    process.exit(1);
  },
);
