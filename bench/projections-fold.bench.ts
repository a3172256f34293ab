/**
 * What the projections' fold costs per event on its own, without the client or the store:
 *
 *   npx ts-node --transpile-only bench/projections-fold.bench.ts [events]
 *
 * Ledger events made by the ledger's decider (as the bench's store phase makes them), turned into the
 * envelopes the runner hands to `evolve` (data and metadata parsed from JSON, as the client parses
 * them), then folded by every projection, five rounds. Compare with the client's own CPU per event in
 * `npm run bench` (`readAll … CPU µs/event`): the rebuild can reach at most
 * client / (client + fold) of the raw readAll rate. Not a test; it asserts nothing.
 */
import { LedgerLog } from './support/ledger-log';
import { PROJECTIONS } from '../src/projections';
import { recordedEnvelopeOf, type RecordedEnvelope } from '../src/projections/projection';

function envelopes(count: number): RecordedEnvelope[] {
  const out: RecordedEnvelope[] = [];
  let position = 29n;
  for (let p = 0; out.length < count; p++) {
    const log = new LedgerLog(`fold-${p}`);
    const events = log.open(16, 1e9);
    for (let b = 0; b < 10; b++) events.push(...log.usage(100));
    let revision = 0n;
    for (const event of events) {
      const rawMetadata = event.metadata;
      const metadata = JSON.parse(
        rawMetadata instanceof Uint8Array
          ? Buffer.from(rawMetadata).toString('utf8')
          : JSON.stringify(rawMetadata ?? {}),
      ) as Record<string, unknown>;
      const data: unknown = JSON.parse(JSON.stringify(event.data));
      position += 900n;
      const envelope = recordedEnvelopeOf(
        {
          type: event.type,
          data,
          metadata,
          id: event.id,
          streamName: log.streamName,
          revision: revision++,
          commitPosition: position,
          created: new Date(),
        },
        { commit: position, prepare: position },
      );
      if (envelope) out.push(envelope);
    }
  }
  return out;
}

const all = envelopes(Number(process.argv[2] ?? 200_000));
for (let round = 0; round < 5; round++) {
  const states: unknown[] = PROJECTIONS.map((projection) => projection.initialState() as unknown);
  const cpu0 = process.cpuUsage();
  for (const envelope of all) {
    for (let k = 0; k < PROJECTIONS.length; k++) states[k] = PROJECTIONS[k].evolve(states[k], envelope);
  }
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `round ${round}: every projection folds ${all.length} events at ` +
      `${((cpu.user + cpu.system) / all.length).toFixed(2)} µs of CPU per event`,
  );
}
