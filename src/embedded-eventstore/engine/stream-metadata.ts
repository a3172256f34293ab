/** The parts of EventStoreDB stream metadata (`$$<stream>`) that change what reads see. */
export interface StreamMetadata {
  maxCount?: number;
  /** Seconds. */
  maxAge?: number;
  /** Truncate before this revision; EventStoreDB's soft delete sets it to long.MaxValue. */
  truncateBefore?: number;
}

/** long.MaxValue as JSON text: JSON.parse cannot hold it exactly, so it is spliced in. */
export const SOFT_DELETED_TB_JSON = '9223372036854775807';
const SOFT_DELETED_THRESHOLD = 2 ** 62;

export const META_STREAM_PREFIX = '$$';
/** EventStoreDB keeps only the newest event of a metadata stream readable. */
export const META_STREAM_METADATA: StreamMetadata = { maxCount: 1 };

export function isMetaStream(name: string): boolean {
  return name.startsWith(META_STREAM_PREFIX);
}

export function metaStreamOf(name: string): string {
  return META_STREAM_PREFIX + name;
}

export function isSoftDeleted(meta: StreamMetadata): boolean {
  return meta.truncateBefore !== undefined && meta.truncateBefore >= SOFT_DELETED_THRESHOLD;
}

export function parseStreamMetadata(json: Uint8Array): {
  meta: StreamMetadata;
  raw: Record<string, unknown>;
} {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(Buffer.from(json).toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      raw = parsed as Record<string, unknown>;
    }
  } catch {
    // EventStoreDB ignores metadata it cannot parse; so do we.
  }
  const num = (v: unknown): number | undefined =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
  return {
    meta: {
      maxCount: num(raw.$maxCount),
      maxAge: num(raw.$maxAge),
      truncateBefore: num(raw.$tb),
    },
    raw,
  };
}

/** JSON for a metadata event equal to `raw` with `$tb` replaced. */
export function metadataJsonWithTruncateBefore(raw: Record<string, unknown>, truncateBefore: string): Buffer {
  const rest = { ...raw };
  delete rest.$tb;
  const body = JSON.stringify(rest);
  const tb = `"$tb":${truncateBefore}`;
  return Buffer.from(body === '{}' ? `{${tb}}` : `{${tb},${body.slice(1)}`, 'utf8');
}
