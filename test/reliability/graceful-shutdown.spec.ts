import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LOCK_FILE } from '../../src/event-store/embedded-store.child';
import { createSubAccount, expectStatus, openParent } from '../support/ledger-fixtures';
import { startServiceProcess } from '../support/service';

// Two starts of the service through ts-node, each with its store's child process.
jest.setTimeout(240_000);

interface Outcome {
  readonly key: string;
  /** The HTTP status, or undefined when the connection failed before any answer. */
  readonly status?: number;
  readonly body?: { usageId?: string; code?: string; detail?: string };
  readonly error?: string;
}

/** One POST over a keep-alive agent, so requests keep arriving on open connections while the service drains. */
function post(agent: Agent, url: string, token: string, body: unknown): Promise<Omit<Outcome, 'key'>> {
  return new Promise((resolve) => {
    const payload = JSON.stringify(body);
    const req = request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : undefined }));
        res.on('error', (error) => resolve({ error: error.message }));
      },
    );
    req.on('error', (error) => resolve({ error: (error as NodeJS.ErrnoException).code ?? error.message }));
    req.end(payload);
  });
}

describe('SIGTERM under load (SPEC §7: stop accepting, finish what is in flight, then close)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'subledger-sigterm-'));
  });

  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('answers every request it accepted, exits 0 and loses nothing it acknowledged', async () => {
    const first = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir } });
    const parent = await openParent(first, { credits: 1_000_000 });
    const subAccountId = await createSubAccount(first, parent, { quota: 1_000_000 });
    const url = `${first.baseUrl}/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`;
    const agent = new Agent({ keepAlive: true, maxSockets: 32 });

    // 32 writers keep sending until their connection is refused; SIGTERM lands while many are in flight.
    const outcomes: Outcome[] = [];
    let sent = 0;
    let stopping = false;
    let acknowledgedBeforeSignal = 0;
    const writer = async (w: number) => {
      for (let i = 0; ; i++) {
        const key = `k-${w}-${i}`;
        sent += 1;
        const outcome = { key, ...(await post(agent, url, parent.key, { idempotencyKey: key, credits: 1 })) };
        outcomes.push(outcome);
        if (!stopping && outcome.status === 201) acknowledgedBeforeSignal += 1;
        if (outcome.error) return;
      }
    };
    const writers = Array.from({ length: 32 }, (_, w) => writer(w));
    while (acknowledgedBeforeSignal < 300) await new Promise((resolve) => setTimeout(resolve, 5));
    stopping = true;
    const inFlightAtSignal = sent - outcomes.length;
    first.child.kill('SIGTERM');
    await first.exited;
    await Promise.all(writers);
    agent.destroy();

    expect(inFlightAtSignal).toBeGreaterThan(0);
    expect({ code: first.child.exitCode, signal: first.child.signalCode }).toEqual({ code: 0, signal: null });
    // Only two answers are right for a request the service read: recorded, or (never here) a refusal
    // of the ledger's own. A 5xx would be the shutdown breaking a request in flight.
    const answered = outcomes.filter((o) => o.status !== undefined);
    const wrong = answered.filter((o) => o.status !== 201);
    expect(wrong.map((o) => `${o.status} ${o.body?.code}: ${o.body?.detail}`)).toEqual([]);
    // The writers stopped only on a refused or closed connection, never on an answer.
    expect(outcomes.filter((o) => o.error).length).toBe(32);
    // The store closed with the service and released the data folder.
    expect(existsSync(path.join(dataDir, LOCK_FILE))).toBe(false);

    // Every acknowledged record is there after a restart: resending its key answers 200 with its
    // id; a request that got no answer may have landed or not, and its resend says which.
    const second = await startServiceProcess({ env: { SUBLEDGER_DATA_DIR: dataDir } });
    try {
      const recorded = new Set<string>();
      for (const outcome of outcomes) {
        const resend = await second.api.post(
          `/v1/parents/${parent.id}/sub-accounts/${subAccountId}/usage`,
          { idempotencyKey: outcome.key, credits: 1 },
          parent.key,
        );
        if (outcome.status === 201) {
          expectStatus(resend, 200);
          expect(resend.body.usageId).toBe(outcome.body?.usageId);
        } else {
          expectStatus(resend, 200, 201);
        }
        recorded.add(outcome.key);
      }
      const view = expectStatus(
        await second.api.get(`/v1/parents/${parent.id}/sub-accounts/${subAccountId}`, parent.key),
        200,
      );
      expect(view.body.used).toBe(recorded.size);
    } finally {
      await second.stop();
    }
  });
});

describe('npm start under a supervisor', () => {
  it('passes SIGTERM to the service itself instead of leaving it running', async () => {
    // The real `start` script, run by npm in a folder whose dist/main.js only reports the signal.
    // Without `exec`, npm's shell dies on SIGTERM and leaves node running with the port and the lock.
    const { scripts } = JSON.parse(
      readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8'),
    ) as {
      scripts: Record<string, string>;
    };
    const folder = await mkdtemp(path.join(tmpdir(), 'subledger-npm-start-'));
    try {
      writeFileSync(
        path.join(folder, 'package.json'),
        JSON.stringify({ name: 'start-check', version: '1.0.0', scripts: { start: scripts.start } }),
      );
      mkdirSync(path.join(folder, 'dist'));
      const marker = path.join(folder, 'terminated');
      writeFileSync(
        path.join(folder, 'dist', 'main.js'),
        `process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(marker)}, String(process.pid)); process.exit(0); });
         require('fs').writeFileSync(${JSON.stringify(path.join(folder, 'started'))}, String(process.pid));
         setInterval(() => {}, 1000);`,
      );
      const npm = spawn('npm', ['start', '--silent'], { cwd: folder, stdio: 'ignore' });
      const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
      while (!existsSync(path.join(folder, 'started')))
        await new Promise((resolve) => setTimeout(resolve, 20));
      const servicePid = Number(readFileSync(path.join(folder, 'started'), 'utf8'));
      npm.kill('SIGTERM');
      await npmExited;
      for (let i = 0; i < 200 && !existsSync(marker); i++)
        await new Promise((resolve) => setTimeout(resolve, 20));
      const alive = () => {
        try {
          process.kill(servicePid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 100 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      const stillRunning = alive();
      if (stillRunning) process.kill(servicePid, 'SIGKILL');
      expect({ gotSigterm: existsSync(marker), stillRunning }).toEqual({
        gotSigterm: true,
        stillRunning: false,
      });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
