import { parseArgs } from 'node:util';
import { Logger } from '@nestjs/common';
import { ConfigError, loadConfig } from '../config/app-config';
import { EventStoreConnection } from '../event-store/event-store-client.provider';
import { ledgerStreamName } from '../ledger/domain';
import { verifyChain } from './audit-chain.verifier';

/**
 * `npm run verify -- --parent <id> [--from <revision>] [--to <revision>]`: the audit chain of
 * `GET …/audit/verify`, offline, as JSON on stdout. Reads the store named by
 * EVENTSTORE_CONNECTION_STRING, or the embedded store on SUBLEDGER_DATA_DIR (through the running
 * service's store when one serves that folder). Exit code 0 when the chain checks out, 2 when it
 * breaks, 1 on error.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { parent: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
    strict: true,
  });
  const revision = (value: string | undefined, name: string): number | undefined => {
    if (value === undefined) return undefined;
    if (!/^(0|[1-9]\d{0,14})$/.test(value)) throw new Error(`--${name} must be a stream revision`);
    return Number(value);
  };
  if (!values.parent)
    throw new Error('usage: verify --parent <parentId> [--from <revision>] [--to <revision>]');
  const from = revision(values.from, 'from');
  const to = revision(values.to, 'to');
  // stdout carries the report alone; the embedded store's start-up lines would corrupt it.
  Logger.overrideLogger(['error', 'warn']);
  const config = loadConfig(process.env);
  const connection = await EventStoreConnection.open(config.eventStore, { joinRunning: true });
  try {
    const report = await verifyChain(connection.client, ledgerStreamName(values.parent), {
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
    });
    if (!report) throw new Error(`parent ${values.parent} does not exist`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return report.verified ? 0 : 2;
  } finally {
    await connection.onApplicationShutdown();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    process.stderr.write(`Verify failed: ${message}\n`);
    process.exit(1);
  },
);
