import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { loadConfig } from '../../src/config/app-config';
import { AppConfigModule } from '../../src/config/app-config.module';
import { EVENT_STORE_CLIENT } from '../../src/event-store/event-store-client.provider';
import { EventStoreModule } from '../../src/event-store/event-store.module';
import { DatabaseModule } from '../../src/database/database.module';
import { BalanceAsOfService, PROJECTIONS, ProjectionsModule, ReadModelProgress } from '../../src/projections';
import { openTestDatabase, testDatabaseUrl } from '../support/database';
import { LedgerWriter } from './ledger-writer';

async function startContext(dataDir: string) {
  const config = loadConfig({}, { dataDir, logLevel: 'silent', databaseUrl: await testDatabaseUrl(dataDir) });
  @Module({
    imports: [AppConfigModule.forRoot(config), EventStoreModule.forRoot(), DatabaseModule, ProjectionsModule],
  })
  class TestModule {}
  const app = await NestFactory.createApplicationContext(TestModule, { logger: false });
  await app.init();
  return app;
}

describe('ProjectionsModule', () => {
  let dataDir: string;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-projections-module-'));
  });

  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts the runner with the application, commits on shutdown and resumes from the checkpoint rows', async () => {
    const first = await startContext(dataDir);
    const client = first.get<EventStoreDBClient>(EVENT_STORE_CLIENT);
    const ledger = new LedgerWriter(client, 'pmodule')
      .open('2026-10-01T00:00:00.000Z')
      .purchase(50, '2026-10-01T00:00:00.000Z')
      .createSubAccount('s', '2026-10-01T00:00:00.000Z')
      .allocate('s', 50, '2026-10-01T01:00:00.000Z');
    const position = await ledger.flush();
    await first.get(ReadModelProgress).waitForPosition(position, 15_000);
    const balance = await first.get(BalanceAsOfService).balanceAsOf('pmodule', 's', new Date('2026-10-02'));
    expect(balance).toMatchObject({ quota: 50, used: 0 });
    await first.close();
    const database = await openTestDatabase(dataDir);
    try {
      const { rows } = await database.pool.query<{
        projection: string;
        version: number;
        commit_position: string;
      }>('SELECT projection, version, commit_position FROM read_model_checkpoints ORDER BY projection');
      expect(rows.map((row) => [row.projection, row.version])).toEqual(
        PROJECTIONS.map((p) => [p.name, p.version]).sort(),
      );
      for (const row of rows) expect(BigInt(row.commit_position)).toBeGreaterThanOrEqual(position);
    } finally {
      await database.close();
    }

    const second = await startContext(dataDir);
    const runner = second.get(ReadModelProgress);
    await runner.whenCaughtUp(15_000);
    // Everything was in the tables: nothing was written again.
    expect(runner.status().map((s) => s.eventsApplied)).toEqual(PROJECTIONS.map(() => 0));
    const again = await second.get(BalanceAsOfService).balanceAsOf('pmodule', 's', new Date('2026-10-02'));
    expect(again).toEqual(balance);
    await second.close();
  });
});
