import * as crypto from 'node:crypto';
import type { EventMetadata } from './decider';

/**
 * The tamper-evident audit chain (SPEC §11, docs/audit-chain.md): every event the processor appends
 * carries `metadata.chain = {prev, hash}`, where `hash` = SHA-256 (lowercase hex) of the UTF-8 bytes of
 * `prev + "\n" + canonicalJson({type, data, metadata})`, `metadata` being the event's metadata without
 * `chain`, and `prev` the `hash` of the stream's previous chained event (`CHAIN_GENESIS` for the
 * first). Changing any byte of an event's type, data or metadata changes its hash; changing a hash
 * breaks the next event's `prev`.
 */
export const CHAIN_GENESIS = '0'.repeat(64);

/** The metadata member that holds an event's link. */
export const CHAIN_METADATA_KEY = 'chain';

export interface ChainLink {
  readonly prev: string;
  readonly hash: string;
}

/**
 * Canonical JSON (the rules of RFC 8785, JCS): object members sorted by key in UTF-16 code-unit order
 * (JavaScript's default sort), no whitespace, strings and numbers written exactly as `JSON.stringify`
 * writes them (ECMAScript's shortest round-trip number form; integers without exponent or fraction up
 * to 10^21), members whose value is `undefined` left out and `undefined` in arrays written as `null`,
 * as `JSON.stringify` does. A non-finite number is refused: it has no JSON form.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`the audit chain cannot hash the number ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      break;
    default:
      throw new Error(`the audit chain cannot hash a value of type ${typeof value}`);
  }
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return canonicalJson(withJson.toJSON());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (i > 0) out += ',';
      out += item === undefined || typeof item === 'function' ? 'null' : canonicalJson(item);
    }
    return `${out}]`;
  }
  // Written out by hand (one string, keys sorted only when they are not already): this runs for
  // every event appended, and a generic map/join/sort cost several times JSON.stringify.
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  if (!inOrder(keys)) keys.sort();
  let out = '{';
  for (const key of keys) {
    const member = record[key];
    if (member === undefined || typeof member === 'function') continue;
    if (out.length > 1) out += ',';
    out += `${quoted(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

function inOrder(keys: readonly string[]): boolean {
  for (let i = 1; i < keys.length; i++) if (keys[i - 1] > keys[i]) return false;
  return true;
}

/** Characters JSON.stringify would escape (or could write differently): such strings go to it. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what JSON escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON.stringify writes it; plain strings without anything to escape are just quoted. */
function quoted(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/** The metadata an event is hashed with: all of it but `chain`. */
export function metadataWithoutChain(metadata: EventMetadata): EventMetadata {
  if (!(CHAIN_METADATA_KEY in metadata)) return metadata;
  const rest: EventMetadata = { ...metadata };
  delete rest[CHAIN_METADATA_KEY];
  return rest;
}

/**
 * The hash of one event given its predecessor's. `canonicalMetadata` is `canonicalJson` of the
 * metadata without `chain`, passed in so that a batch sharing one envelope canonicalises it once.
 */
export function chainHash(prev: string, type: string, data: unknown, canonicalMetadata: string): string {
  // Members in key order: data, metadata, type.
  return chainHashOfCanonicalData(prev, type, canonicalJson(data), canonicalMetadata);
}

/** {@link chainHash} with the data already in canonical JSON. */
export function chainHashOfCanonicalData(
  prev: string,
  type: string,
  canonicalData: string,
  canonicalMetadata: string,
): string {
  return sha256Hex(
    `${prev}\n{"data":${canonicalData},"metadata":${canonicalMetadata},"type":${quoted(type)}}`,
  );
}

/**
 * SHA-256 of the UTF-8 text, lowercase hex: the one-shot `crypto.hash` where Node has it (20.12+), a
 * quarter of the cost of a Hash object per event, else `createHash`.
 */
const sha256Hex: (text: string) => string =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) =>
        (crypto as unknown as { hash(algorithm: string, data: string, encoding: string): string }).hash(
          'sha256',
          text,
          'hex',
        )
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');

/** The link an event read back carries, or undefined when it has none (or not of the right shape). */
export function chainLinkOf(metadata: unknown): ChainLink | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const link = (metadata as Record<string, unknown>)[CHAIN_METADATA_KEY];
  if (typeof link !== 'object' || link === null) return undefined;
  const { prev, hash } = link as Record<string, unknown>;
  return typeof prev === 'string' && typeof hash === 'string' ? { prev, hash } : undefined;
}
