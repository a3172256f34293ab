import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/*
 * An API key secret is `sl_<parent>_<keyId>_<random>`:
 * - `<parent>` is the parent's id in base64url, so the key's parent (and with it the one stream
 *   that knows the key) is found without a registry to rebuild after a restart or share between
 *   instances;
 * - `<keyId>` is the key's public id (the `{k}` of the revoke route), 16 hex characters;
 * - `<random>` is 32 random bytes in base64url (256 bits).
 * base64url may contain `_`, so the parts are found from both ends: the first `_` ends the tag, the
 * last two start the key id and the random part, which never contain one (hex and a checked length).
 * Only `sha256(secret)` is stored (ApiKeyIssued.secretHash); docs/auth.md says why a fast hash.
 */

const TAG = 'sl';
const KEY_ID_BYTES = 8;
const RANDOM_BYTES = 32;
const KEY_ID_PATTERN = /^[0-9a-f]{16}$/;
const RANDOM_PATTERN = /^[A-Za-z0-9-]{43}$/;
const HASH_PREFIX = 'sha256:';
/** Longest id (64 characters) in base64url plus the fixed parts; anything longer is refused unread. */
export const MAX_SECRET_LENGTH = 200;

export type MintedApiKey = {
  readonly keyId: string;
  readonly secret: string;
  /** Shown in key lists so a person can tell keys apart; never enough to authenticate. */
  readonly prefix: string;
  readonly secretHash: string;
};

export function mintApiKey(parentId: string): MintedApiKey {
  const keyId = randomBytes(KEY_ID_BYTES).toString('hex');
  // Redrawn rather than stripped so the random part keeps its full 256 bits and its fixed length.
  let random = randomBytes(RANDOM_BYTES).toString('base64url');
  while (random.includes('_')) random = randomBytes(RANDOM_BYTES).toString('base64url');
  const secret = `${TAG}_${Buffer.from(parentId, 'utf8').toString('base64url')}_${keyId}_${random}`;
  return { keyId, secret, prefix: `${TAG}_…_${keyId}`, secretHash: encodeHash(hashSecret(secret)) };
}

export type ParsedSecret = { readonly parentId: string; readonly keyId: string };

/** The claims a secret makes about itself; nothing is trusted until its hash matched. */
export function parseApiKeySecret(secret: string): ParsedSecret | null {
  if (secret.length > MAX_SECRET_LENGTH || !secret.startsWith(`${TAG}_`)) return null;
  const randomStart = secret.lastIndexOf('_');
  const keyIdStart = secret.lastIndexOf('_', randomStart - 1);
  if (keyIdStart <= TAG.length) return null;
  const parent = secret.slice(TAG.length + 1, keyIdStart);
  const keyId = secret.slice(keyIdStart + 1, randomStart);
  if (!KEY_ID_PATTERN.test(keyId) || !RANDOM_PATTERN.test(secret.slice(randomStart + 1))) return null;
  if (!/^[A-Za-z0-9_-]+$/.test(parent)) return null;
  const parentId = Buffer.from(parent, 'base64url').toString('utf8');
  // Only the canonical encoding is accepted, so one key has exactly one secret.
  if (Buffer.from(parentId, 'utf8').toString('base64url') !== parent) return null;
  return { parentId, keyId };
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function encodeHash(digest: Buffer): string {
  return `${HASH_PREFIX}${digest.toString('base64url')}`;
}

/** Constant-time: how much of the hash matched never shows in the answer's timing. */
export function hashMatches(presented: Buffer, stored: string): boolean {
  if (!stored.startsWith(HASH_PREFIX)) return false;
  const expected = Buffer.from(stored.slice(HASH_PREFIX.length), 'base64url');
  return expected.length === presented.length && timingSafeEqual(expected, presented);
}
