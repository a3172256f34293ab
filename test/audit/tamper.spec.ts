import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { createSubAccount, expectStatus, openParent, type OpenedParent } from '../support/ledger-fixtures';
import { startTestService, type TestService } from '../support/service';

// Two service starts over one folder and one ts-node tool run.
jest.setTimeout(240_000);

const ROOT = path.resolve(__dirname, '..', '..');
const MAGIC_BYTES = 16;
const RECORD_HEADER_BYTES = 8;

/**
 * Changes the byte at `offset` of the embedded store's log to `replacement` and rewrites the CRC-32 of
 * the record holding it (docs/storage-format.md: `u32le bodyLength | u32le crc32(body) | body`), so
 * the store's recovery scan accepts the record instead of cutting the log there.
 */
async function tamperWithLog(logFile: string, offset: number, replacement: number): Promise<void> {
  const log = await readFile(logFile);
  let record = MAGIC_BYTES;
  while (record < log.length) {
    const bodyLength = log.readUInt32LE(record);
    const body = record + RECORD_HEADER_BYTES;
    if (offset >= body && offset < body + bodyLength) {
      log[offset] = replacement;
      log.writeUInt32LE(crc32(log.subarray(body, body + bodyLength)), record + 4);
      await writeFile(logFile, log);
      return;
    }
    record = body + bodyLength;
  }
  throw new Error(`offset ${offset} is in no record of ${logFile}`);
}

async function verifyTool(parentId: string, dataDir: string): Promise<{ code: number; stdout: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, SUBLEDGER_DATA_DIR: dataDir };
  delete env.EVENTSTORE_CONNECTION_STRING;
  delete env.SUBLEDGER_EVENTSTORE_MEMORY;
  try {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['-r', 'ts-node/register/transpile-only', 'src/audit/verify.cli.ts', '--parent', parentId],
      { cwd: ROOT, env, timeout: 120_000 },
    );
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

describe('the audit chain against one changed byte of the stored log (SPEC §11)', () => {
  let dataDir: string;
  let service: TestService | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-tamper-'));
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const verify = (parent: OpenedParent, query = '') =>
    service!.api.get(`/v1/parents/${parent.id}/audit/verify${query}`, service!.operatorToken);

  it('verifies an intact ledger, then reports exactly the event whose data was changed, by route and CLI', async () => {
    service = await startTestService({ dataDir });
    const parent = await openParent(service, { credits: 10_000 });
    const subAccountId = await createSubAccount(service, parent, { quota: 5_000 });
    const meters = ['before-a', 'before-b', 'tamper-target-meter', 'after-a', 'after-b'];
    for (const [i, meter] of meters.entries()) {
      expectStatus(
        await service.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
          { idempotencyKey: `k-${i}`, credits: 10 + i, meter },
          parent.key,
        ),
        201,
      );
    }
    const intact = expectStatus(await verify(parent), 200).body;
    expect(intact).toMatchObject({ verified: true, unchained: 0 });
    expect(intact.events).toBeGreaterThanOrEqual(meters.length + 3);
    expect(intact.firstBreak).toBeUndefined();
    expect(expectStatus(await verify(parent, '?from=2&to=4'), 200).body).toMatchObject({
      verified: true,
      events: 3,
      headRevision: 4,
    });
    expect(expectStatus(await verify(parent, '?from=4&to=2'), 400).body.code).toBe('validation_failed');
    expect(expectStatus(await verify(parent, '?from=-1'), 400).body.code).toBe('validation_failed');
    expectStatus(await service.api.get(`/v1/parents/${parent.id}/audit/verify`, parent.key), 403);
    expectStatus(await service.api.get(`/v1/parents/nobody-here/audit/verify`, service.operatorToken), 404);

    // Where the target event sits in the stream, read from the parent's own feed.
    const feed = expectStatus(
      await service.api.get(`/v1/parents/${parent.id}/events?limit=1000`, service.operatorToken),
      200,
    ).body;
    const target = feed.events.find(
      (event: { type: string; data: { meter?: string } }) =>
        event.type === 'UsageRecorded' && event.data.meter === 'tamper-target-meter',
    );
    expect(target).toBeDefined();
    const targetRevision = Number(target.cursor);
    const tool = await verifyTool(parent.id, dataDir);
    expect(tool.code).toBe(0);
    expect(JSON.parse(tool.stdout)).toMatchObject({ verified: true, head: intact.head });

    await service.close();
    service = undefined;
    const logFile = path.join(dataDir, 'events.log');
    const log = await readFile(logFile);
    const needle = Buffer.from('tamper-target-meter');
    const at = log.indexOf(needle);
    expect(at).toBeGreaterThan(0);
    expect(log.indexOf(needle, at + 1)).toBe(-1);
    // One byte of the event's data: "tamper-target-meter" becomes "tamper-target-meteR".
    await tamperWithLog(logFile, at + needle.length - 1, 'R'.charCodeAt(0));

    service = await startTestService({ dataDir });
    const changed = await service.api.get(
      `/v1/parents/${parent.id}/events?limit=1000`,
      service.operatorToken,
    );
    // The store accepted the record (checksum fixed): the changed event is there, as changed.
    expect(
      changed.body.events.some(
        (event: { data: { meter?: string } }) => event.data.meter === 'tamper-target-meteR',
      ),
    ).toBe(true);
    const broken = expectStatus(await verify(parent), 200).body;
    expect(broken).toMatchObject({
      verified: false,
      headRevision: targetRevision - 1,
      firstBreak: { revision: targetRevision, found: target.metadata.chain.hash },
    });
    expect(broken.firstBreak.expected).not.toBe(broken.firstBreak.found);
    const cli = await verifyTool(parent.id, dataDir);
    expect(cli.code).toBe(2);
    expect(JSON.parse(cli.stdout)).toMatchObject({
      verified: false,
      firstBreak: { revision: targetRevision },
    });
  });
});
