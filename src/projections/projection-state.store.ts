import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { LogPosition } from './projection';

/** A projection's state with the position of the last event folded into it, always kept together. */
export interface StoredProjection {
  readonly name: string;
  readonly version: number;
  readonly checkpoint: LogPosition;
  readonly state: unknown;
}

export interface ProjectionStateStore {
  /** The stored state of exactly this version, or undefined (none, or another version only). */
  load(name: string, version: number): Promise<StoredProjection | undefined>;
  save(stored: StoredProjection): Promise<void>;
}

interface FileContent {
  readonly name: string;
  readonly version: number;
  readonly checkpoint: { readonly commit: string; readonly prepare: string };
  readonly savedAt: string;
  readonly state: unknown;
}

/**
 * One file per projection and version, `<dir>/<name>.v<version>.json`, holding the state AND its
 * checkpoint. It is replaced atomically (write a temporary file, fsync it, rename it over the old one,
 * fsync the folder), so after a crash at any instant the file is either the previous save or the new one
 * — never a state of one moment with the checkpoint of another, which is what would double count or
 * skip events on restart.
 */
export class FileProjectionStateStore implements ProjectionStateStore {
  constructor(readonly directory: string) {}

  fileOf(name: string, version: number): string {
    return path.join(this.directory, `${name}.v${version}.json`);
  }

  async load(name: string, version: number): Promise<StoredProjection | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.fileOf(name, version), 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const content = JSON.parse(text) as FileContent;
    if (content.name !== name || content.version !== version) return undefined;
    return {
      name,
      version,
      checkpoint: { commit: BigInt(content.checkpoint.commit), prepare: BigInt(content.checkpoint.prepare) },
      state: content.state,
    };
  }

  async save(stored: StoredProjection): Promise<void> {
    // Serialised before the first await: the live state keeps changing while the bytes are written.
    const content: FileContent = {
      name: stored.name,
      version: stored.version,
      checkpoint: {
        commit: stored.checkpoint.commit.toString(),
        prepare: stored.checkpoint.prepare.toString(),
      },
      savedAt: new Date().toISOString(),
      state: stored.state,
    };
    const bytes = JSON.stringify(content);
    await fs.mkdir(this.directory, { recursive: true });
    const target = this.fileOf(stored.name, stored.version);
    const temporary = `${target}.${process.pid}.tmp`;
    const handle = await fs.open(temporary, 'w');
    try {
      await handle.writeFile(bytes, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(temporary, target);
    await syncDirectory(this.directory);
    await this.removeOtherVersions(stored.name, stored.version);
  }

  /** Once a new version is safely stored, the old one can never be used again. */
  private async removeOtherVersions(name: string, version: number): Promise<void> {
    const keep = path.basename(this.fileOf(name, version));
    const pattern = new RegExp(`^${escapeRegExp(name)}\\.v\\d+\\.json$`);
    for (const file of await fs.readdir(this.directory)) {
      if (file !== keep && pattern.test(file)) await fs.rm(path.join(this.directory, file), { force: true });
    }
  }
}

/** Tests and in-memory services: nothing survives the process, so nothing is written. */
export class InMemoryProjectionStateStore implements ProjectionStateStore {
  load(): Promise<StoredProjection | undefined> {
    return Promise.resolve(undefined);
  }

  save(): Promise<void> {
    return Promise.resolve();
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await fs.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Marks a staged rebuild as whole: written last, after every projection file was saved. */
const COMPLETE_MARKER = 'REBUILD-COMPLETE';

/**
 * `npm run rebuild` while the service runs (SPEC §8) cannot replace the files the service is saving
 * over: it builds into `<projections>.rebuilt/` beside them instead, and marks it complete last.
 */
export function stagedRebuildDirectory(directory: string): string {
  return `${directory}.rebuilt`;
}

export async function markRebuildComplete(stagedDirectory: string): Promise<void> {
  await fs.writeFile(path.join(stagedDirectory, COMPLETE_MARKER), new Date().toISOString());
  await syncDirectory(stagedDirectory);
}

/**
 * At the service's start, before any projection loads: a complete staged rebuild replaces the
 * projection files (its states and checkpoints go together, so the service catches up from where the
 * rebuild ended); an incomplete one (the rebuild was interrupted) is dropped. Each step is a rename,
 * and a crash between them is finished on the next start. Returns what it did.
 */
export async function adoptStagedRebuild(directory: string): Promise<'adopted' | 'dropped' | 'none'> {
  const staged = stagedRebuildDirectory(directory);
  const replaced = `${directory}.replaced`;
  const parent = path.dirname(directory);
  const exists = (target: string) =>
    fs.stat(target).then(
      () => true,
      () => false,
    );
  if (!(await exists(staged))) {
    // A crash after the swap's first rename and with nothing staged left: put the old files back.
    if (!(await exists(directory)) && (await exists(replaced))) await fs.rename(replaced, directory);
    await fs.rm(replaced, { recursive: true, force: true });
    return 'none';
  }
  if (!(await exists(path.join(staged, COMPLETE_MARKER)))) {
    await fs.rm(staged, { recursive: true, force: true });
    return 'dropped';
  }
  if (await exists(directory)) {
    await fs.rm(replaced, { recursive: true, force: true });
    await fs.rename(directory, replaced);
  }
  await fs.rm(path.join(staged, COMPLETE_MARKER));
  await fs.rename(staged, directory);
  await syncDirectory(parent);
  await fs.rm(replaced, { recursive: true, force: true });
  return 'adopted';
}
