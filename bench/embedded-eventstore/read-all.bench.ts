/**
 * readAll rate against a running server: BENCH_CONNECTION=esdb://... npx ts-node --transpile-only bench/embedded-eventstore/read-all.bench.ts
 */
import { EventStoreDBClient } from '@eventstore/db-client';

async function main(): Promise<void> {
  const connection = process.env.BENCH_CONNECTION;
  if (!connection) throw new Error('BENCH_CONNECTION=esdb://… names the running store to read');
  const client = EventStoreDBClient.connectionString(connection);
  const cpu0 = process.cpuUsage();
  const started = process.hrtime.bigint();
  let read = 0;
  for await (const _ of client.readAll()) read++;
  const secs = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  console.log(
    `readAll: ${read} events, ${Math.round(read / secs)} events/s, client CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
  );
  await client.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
