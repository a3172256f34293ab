import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
const CLI_PATH = path.join(REPO_ROOT, 'src', 'embedded-eventstore', 'cli.ts');
const READY_LINE = /^EMBEDDED_EVENTSTORE_READY (esdb:\/\/[^:]+:(\d+)\S*)$/m;

/**
 * `startEmbeddedEventStore` for the suites run with the successor client: the server runs in a child
 * process, one shared by every suite of the run (their streams are unique, as against a real server).
 * It cannot run in the test's process: google-protobuf's generated code registers its message classes
 * in one global namespace (`proto.event_store.client.…`), so loading the server (built on
 * `@eventstore/db-client`'s generated classes) beside `@kurrent/kurrentdb-client`'s replaces one
 * client's classes with the other's, and BatchAppend then fails inside google-protobuf.
 */
let shared: Promise<{ child: ChildProcess; port: number; connectionString: string }> | null = null;

function spawnServer(): Promise<{ child: ChildProcess; port: number; connectionString: string }> {
  const child = spawn(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', CLI_PATH, '--port', '0', '--memory'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4096)));
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = READY_LINE.exec(out);
      if (match) resolve({ child, port: Number(match[2]), connectionString: match[1] });
    });
    child.once('exit', (code) => reject(new Error(`embedded event store exited with ${code}\n${stderr}`)));
  });
}

export async function startEmbeddedEventStore(): Promise<{
  port: number;
  connectionString: string;
  close(): Promise<void>;
}> {
  shared ??= spawnServer();
  const { port, connectionString } = await shared;
  // Each suite "closes" its store; the shared one lives until stopSharedServer.
  return { port, connectionString, close: async () => undefined };
}

export async function stopSharedServer(): Promise<void> {
  if (!shared) return;
  const { child } = await shared;
  shared = null;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}
