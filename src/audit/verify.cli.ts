import { parseArgs } from 'node:util';
import { runStoreTool } from '../event-store/store-tool';
import { ledgerStreamName } from '../ledger/domain';
import { verifyChain } from './audit-chain.verifier';

/**
 * `npm run verify -- --parent <id> [--from <revision>] [--to <revision>]`: the audit chain of
 * `GET …/audit/verify`, offline, as JSON on stdout. Reads the store named by
 * EVENTSTORE_CONNECTION_STRING, or the embedded store on SUBLEDGER_DATA_DIR (through the running
 * service's store when one serves that folder). Exit code 0 when the chain checks out, 2 when it
 * breaks, 1 on error.
 */
runStoreTool('Verify', parseVerifyArgs, async (client, { parent, from, to }) => {
  const report = await verifyChain(client, ledgerStreamName(parent), {
    ...(from === undefined ? {} : { from }),
    ...(to === undefined ? {} : { to }),
  });
  if (!report) throw new Error(`parent ${parent} does not exist`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  return report.verified ? 0 : 2;
});

function parseVerifyArgs(): { parent: string; from: number | undefined; to: number | undefined } {
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
  return { parent: values.parent, from: revision(values.from, 'from'), to: revision(values.to, 'to') };
}
