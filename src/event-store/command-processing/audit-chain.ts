import { createHash } from 'node:crypto';
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
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`the audit chain cannot hash the number ${value}`);
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      break;
    default:
      throw new Error(`the audit chain cannot hash a value of type ${typeof value}`);
  }
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return canonicalJson(withJson.toJSON());
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined || typeof member === 'function') continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
  }
  return `{${members.join(',')}}`;
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
  const canonical = `{"data":${canonicalJson(data)},"metadata":${canonicalMetadata},"type":${JSON.stringify(type)}}`;
  return createHash('sha256').update(`${prev}\n${canonical}`, 'utf8').digest('hex');
}

/** The link an event read back carries, or undefined when it has none (or not of the right shape). */
export function chainLinkOf(metadata: unknown): ChainLink | undefined {
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const link = (metadata as Record<string, unknown>)[CHAIN_METADATA_KEY];
  if (typeof link !== 'object' || link === null) return undefined;
  const { prev, hash } = link as Record<string, unknown>;
  return typeof prev === 'string' && typeof hash === 'string' ? { prev, hash } : undefined;
}
