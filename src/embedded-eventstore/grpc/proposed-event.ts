import { UUID } from '@eventstore/db-client/generated/shared_pb';
import { NewEvent } from '../storage/recorded-event.codec';
import { hexUuid } from './batch-append.codec';

/** EventStoreDB's default MaxAppendSize (1 MiB). */
export const MAX_APPEND_SIZE = 1024 * 1024;

interface ProposedMessageLike {
  getId(): UUID | undefined;
  getMetadataMap(): { get(key: string): string | undefined };
  getData_asU8(): Uint8Array;
  getCustomMetadata_asU8(): Uint8Array;
}

export function uuidToString(uuid: UUID | undefined): string {
  if (!uuid) return '';
  if (uuid.hasString()) return uuid.getString().toLowerCase();
  const s = uuid.getStructured();
  if (!s) return '';
  const hi = BigInt.asUintN(64, BigInt(s.getMostSignificantBits()));
  const lo = BigInt.asUintN(64, BigInt(s.getLeastSignificantBits()));
  return hexUuid(hi, lo);
}

/** Converts one proposed message; returns the name of a missing required property instead. */
export function toNewEvent(m: ProposedMessageLike): NewEvent | string {
  const meta = m.getMetadataMap();
  const type = meta.get('type');
  if (type === undefined) return 'type';
  const contentType = meta.get('content-type');
  if (contentType === undefined) return 'content-type';
  return {
    id: uuidToString(m.getId()),
    type,
    contentType,
    data: m.getData_asU8(),
    customMetadata: m.getCustomMetadata_asU8(),
  };
}

/** How an append's events are counted against MaxAppendSize. */
export type AppendSizeRule = (e: NewEvent) => number;

/**
 * The rule of the server version we report. From 21.10 through 24.10 EventStoreDB's
 * `Event.SizeOnDisk` reads `data?.Length ?? 0 + metadata?.Length ?? 0 + type.Length * 2`, which C#
 * parses as `data?.Length ?? (...)`: only the data bytes count. 25.0 added the parentheses: data +
 * metadata + the type (as UTF-16).
 */
export function appendSizeRuleOf(serverVersion: string): AppendSizeRule {
  const major = Number(/^(\d+)\./.exec(serverVersion)?.[1] ?? '0');
  if (major >= 25) return (e) => e.data.length + e.customMetadata.length + e.type.length * 2;
  return (e) => e.data.length;
}
