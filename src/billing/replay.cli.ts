import { parseArgs } from 'node:util';
import { runStoreTool } from '../event-store/store-tool';
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
runStoreTool(
  'Replay',
  () => {
    const { values } = parseArgs({
      options: { parent: { type: 'string' }, period: { type: 'string' }, now: { type: 'string' } },
      strict: true,
    });
    if (!values.parent || !values.period || !isBillingPeriod(values.period)) {
      throw new Error('usage: replay --parent <parentId> --period <YYYY-MM> [--now <ISO instant>]');
    }
    const now = values.now === undefined ? new Date() : new Date(values.now);
    if (Number.isNaN(now.getTime())) throw new Error('--now must be an ISO 8601 instant');
    return { parent: values.parent, period: values.period, now };
  },
  async (client, { parent, period, now }) => {
    const report = await replayPeriod(client, parent, period, { now });
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.matches ? 0 : 2;
  },
);
