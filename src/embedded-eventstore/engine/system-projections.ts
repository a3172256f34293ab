import { createHash } from 'node:crypto';
import { EventIndex, StreamState } from '../storage/event-index';
import { encodeRecordedEvent, NewEvent, parseRecordedEvent } from '../storage/recorded-event.codec';

/**
 * KurrentDB's four standard ("system") projections, kept as views of the index instead of link
 * events written to the log:
 *
 * | projection            | stream                 | gets, for each event of a user stream (or a `$$` of one)  |
 * | --------------------- | ---------------------- | ---------------------------------------------------------- |
 * | `$by_category`        | `$ce-<category>`       | a link (`$>`, `rev@stream`); links are passed on as linked |
 * | `$by_event_type`      | `$et-<type>`           | a link, except for link events themselves                  |
 * | `$streams`            | `$streams`             | a link to the first event of each stream                   |
 * | `$stream_by_category` | `$category-<category>` | a `$@` event naming each new stream of the category        |
 *
 * The category is the stream name before its first `-` (KurrentDB's default `first` / `-`); streams
 * starting with `$` have none, and only user streams and their metadata streams are projected, as
 * KurrentDB's `$all` reader for projections filters them.
 *
 * A view stream is an ordinary `StreamState` whose slots hold the global index of the *source* event;
 * a slot whose event belongs to another stream is a view entry, and readers get it as the link event a
 * real node would have written (`viewEntry`), with a stable id, the source's position and creation time,
 * and `$causedBy` naming the source. Nothing is written per event: the cost is 4 bytes per event per
 * view in the stream's slot array, and `$all` and the log stay exactly what the clients appended. That is
 * the one visible difference from a real node: its links are events of `$all` too (system streams,
 * which consumers filter out with `excludeSystemEvents` or a prefix filter anyway).
 *
 * Processing is in log order, one checkpoint (next global index) per projection, at the moment an event
 * is indexed (appended, or replayed on open), so a view stream's slots grow in log order and readers see
 * an entry exactly when its source is durable. Enabling a projection catches it up from its checkpoint;
 * the enabled state is kept in the log as `$ProjectionUpdated` events in `$projections-<name>`, so a
 * replay rebuilds the same views with the same revisions.
 */

export const SYSTEM_PROJECTION_NAMES = [
  '$by_category',
  '$by_event_type',
  '$streams',
  '$stream_by_category',
] as const;
export type SystemProjectionName = (typeof SYSTEM_PROJECTION_NAMES)[number];

export const PROJECTION_UPDATED_TYPE = '$ProjectionUpdated';
export const PROJECTIONS_STREAM_PREFIX = '$projections-';
const LINK_TYPE = '$>';
const STREAM_REFERENCE_TYPE = '$@';
const CATEGORY_SEPARATOR = '-';
const OCTET_STREAM = 'application/octet-stream';
const JSON_CONTENT_TYPE = 'application/json';

const HANDLERS: Record<SystemProjectionName, { handlerType: string; query: string }> = {
  $by_category: {
    handlerType: 'native:KurrentDB.Projections.Core.Standard.CategorizeEventsByStreamPath',
    query: 'first\r\n-',
  },
  $by_event_type: {
    handlerType: 'native:KurrentDB.Projections.Core.Standard.IndexEventsByEventType',
    query: '',
  },
  $streams: { handlerType: 'native:KurrentDB.Projections.Core.Standard.IndexStreams', query: '' },
  $stream_by_category: {
    handlerType: 'native:KurrentDB.Projections.Core.Standard.CategorizeStreamByPath',
    query: 'first\r\n-',
  },
};

export function isSystemProjectionName(name: string): name is SystemProjectionName {
  return (SYSTEM_PROJECTION_NAMES as readonly string[]).includes(name);
}

export interface ProjectionStatistics {
  name: SystemProjectionName;
  enabled: boolean;
  /** Next global index the projection will process. */
  checkpoint: number;
  eventsProcessedAfterRestart: number;
}

class Projection {
  enabled = false;
  /** Whether a `$ProjectionUpdated` event for it exists in the log. */
  recorded = false;
  checkpoint = 0;
  processedAfterRestart = 0;
  constructor(readonly name: SystemProjectionName) {}
}

/** The `$ProjectionUpdated` event that records a projection's state in `$projections-<name>`. */
export function projectionUpdatedEvent(id: string, name: SystemProjectionName, enabled: boolean): NewEvent {
  const body = {
    ...HANDLERS[name],
    mode: 'Continuous',
    enabled,
    emitEnabled: true,
    checkpointsDisabled: false,
    trackEmittedStreams: false,
  };
  return {
    id,
    type: PROJECTION_UPDATED_TYPE,
    contentType: JSON_CONTENT_TYPE,
    data: Buffer.from(JSON.stringify(body)),
    customMetadata: new Uint8Array(0),
  };
}

export class SystemProjections {
  private readonly projections = new Map<SystemProjectionName, Projection>(
    SYSTEM_PROJECTION_NAMES.map((n) => [n, new Projection(n)]),
  );
  private readonly byCategory = this.projections.get('$by_category')!;
  private readonly byEventType = this.projections.get('$by_event_type')!;
  private readonly streams = this.projections.get('$streams')!;
  private readonly streamByCategory = this.projections.get('$stream_by_category')!;
  /** Per stream number: its category name, null if none (system stream or no separator); undefined until asked. */
  private readonly categoryOf: (string | null | undefined)[] = [];
  /** Per stream number: whether projections see its events (user streams and their metadata streams). */
  private readonly projectable: (boolean | undefined)[] = [];
  /** Per stream number: its `$ce-` stream, null if it has no category; undefined until asked. */
  private readonly categoryViewOf: (StreamState | null | undefined)[] = [];
  /** Per event-type number: its `$et-` stream. */
  private readonly eventTypeStream: (StreamState | undefined)[] = [];
  private readonly categoryStream = new Map<string, StreamState>();
  private readonly streamByCategoryStream = new Map<string, StreamState>();
  private allStreams: StreamState | undefined;

  constructor(private readonly index: EventIndex) {}

  get anyEnabled(): boolean {
    for (const p of this.projections.values()) if (p.enabled) return true;
    return false;
  }

  isEnabled(name: SystemProjectionName): boolean {
    return this.projections.get(name)!.enabled;
  }

  isRecorded(name: SystemProjectionName): boolean {
    return this.projections.get(name)!.recorded;
  }

  statistics(): ProjectionStatistics[] {
    return [...this.projections.values()].map((p) => ({
      name: p.name,
      enabled: p.enabled,
      checkpoint: p.checkpoint,
      eventsProcessedAfterRestart: p.processedAfterRestart,
    }));
  }

  /**
   * Sets a projection's state as of global index `at` (the index its `$ProjectionUpdated` event gets or
   * has): an enabled projection has processed everything before it first, then a newly enabled one
   * catches up from its checkpoint. Live and on replay alike, so both build the same views.
   */
  setEnabled(name: SystemProjectionName, enabled: boolean, at: number, replaying: boolean): void {
    const p = this.projections.get(name)!;
    p.recorded = true;
    if (p.enabled) this.advance(p, at, replaying);
    p.enabled = enabled;
    if (enabled) this.advance(p, at, replaying);
  }

  /** Each projection's state, for a checkpoint (its views follow from the index and its checkpoint). */
  checkpoint(): { name: SystemProjectionName; enabled: boolean; recorded: boolean; checkpoint: number }[] {
    return [...this.projections.values()].map((p) => ({
      name: p.name,
      enabled: p.enabled,
      recorded: p.recorded,
      checkpoint: p.checkpoint,
    }));
  }

  /**
   * Takes back a checkpoint's states: each projection's views are made again from the restored index
   * up to its checkpoint. A view holds every projectable event before its checkpoint in order (a
   * projection enabled again catches up from where it stopped), so this makes the same views.
   */
  restore(
    states: readonly { name: string; enabled: boolean; recorded: boolean; checkpoint: number }[],
  ): void {
    for (const state of states) {
      if (!isSystemProjectionName(state.name)) continue;
      const p = this.projections.get(state.name)!;
      p.recorded = state.recorded;
      p.enabled = true;
      this.advance(p, state.checkpoint, true);
      p.enabled = state.enabled;
    }
  }

  /** Applies the control event at global index `i` if it is one (replay), before `afterIndexed`. */
  replayControlEvent(streamName: string, type: string, data: Buffer, i: number): void {
    if (type !== PROJECTION_UPDATED_TYPE || !streamName.startsWith(PROJECTIONS_STREAM_PREFIX)) return;
    const name = streamName.slice(PROJECTIONS_STREAM_PREFIX.length);
    if (!isSystemProjectionName(name)) return;
    let enabled: unknown;
    try {
      enabled = (JSON.parse(data.toString('utf8')) as { enabled?: unknown }).enabled;
    } catch {
      return;
    }
    if (typeof enabled === 'boolean') this.setEnabled(name, enabled, i, true);
  }

  /** Runs every enabled projection up to (not including) global index `end`. */
  afterIndexed(end: number, replaying: boolean): void {
    if (this.byCategory.enabled) this.advance(this.byCategory, end, replaying);
    if (this.byEventType.enabled) this.advance(this.byEventType, end, replaying);
    if (this.streams.enabled) this.advance(this.streams, end, replaying);
    if (this.streamByCategory.enabled) this.advance(this.streamByCategory, end, replaying);
  }

  private advance(p: Projection, end: number, replaying: boolean): void {
    const index = this.index;
    for (let i = p.checkpoint; i < end; i++) {
      const revision = index.revision(i);
      if (revision < 0) continue; // a tombstone: stream-deleted notifications are not projected
      const streamNo = index.streamOf(i);
      if (!this.isProjectable(streamNo)) continue;
      if (p === this.byCategory) {
        let view = this.categoryViewOf[streamNo];
        if (view === undefined) {
          const category = this.category(streamNo);
          view = category === null ? null : this.viewStream(this.categoryStream, '$ce-', category);
          this.categoryViewOf[streamNo] = view;
        }
        if (view !== null) view.push(i);
      } else if (p === this.byEventType) {
        const typeNo = index.typeOf(i);
        if (index.types[typeNo] === LINK_TYPE) continue;
        let st = this.eventTypeStream[typeNo];
        if (!st) {
          st = this.index.streamOrCreate(`$et-${index.types[typeNo]}`);
          this.eventTypeStream[typeNo] = st;
        }
        st.push(i);
      } else if (revision === 0) {
        if (p === this.streams) {
          this.allStreams ??= this.index.streamOrCreate('$streams');
          this.allStreams.push(i);
        } else {
          const category = this.category(streamNo);
          if (category !== null) this.viewStream(this.streamByCategoryStream, '$category-', category).push(i);
        }
      }
    }
    if (!replaying) p.processedAfterRestart += Math.max(0, end - p.checkpoint);
    p.checkpoint = Math.max(p.checkpoint, end);
  }

  private viewStream(cache: Map<string, StreamState>, prefix: string, key: string): StreamState {
    let st = cache.get(key);
    if (!st) {
      st = this.index.streamOrCreate(prefix + key);
      cache.set(key, st);
    }
    return st;
  }

  private isProjectable(streamNo: number): boolean {
    let ok = this.projectable[streamNo];
    if (ok === undefined) {
      const name = this.index.streams[streamNo].name;
      ok = !name.startsWith('$') || (name.startsWith('$$') && !name.startsWith('$$$'));
      this.projectable[streamNo] = ok;
    }
    return ok;
  }

  private category(streamNo: number): string | null {
    let c = this.categoryOf[streamNo];
    if (c === undefined) {
      const name = this.index.streams[streamNo].name;
      const at = name.indexOf(CATEGORY_SEPARATOR);
      c = name.startsWith('$') || at <= 0 ? null : name.slice(0, at);
      this.categoryOf[streamNo] = c;
    }
    return c;
  }
}

/**
 * The RecordedEvent bytes of view entry `revision` of `view`, whose source is the stored event `source`
 * (global index `sourceIndex`): a link (`$>`) for `$ce-`, `$et-` and `$streams`, a stream reference
 * (`$@`) for `$category-`. Its id is derived from the view stream and revision, so it is the same on
 * every read and after a restart.
 */
export function viewEntry(
  view: StreamState,
  revision: number,
  source: Buffer,
  sourcePosition: number,
): Buffer {
  const e = parseRecordedEvent(source, 0, source.length);
  const reference = view.name.startsWith('$category-');
  let data: string;
  if (reference) data = e.streamName;
  else if (e.type === LINK_TYPE && view.name.startsWith('$ce-'))
    data = source.toString('utf8', e.dataStart, e.dataEnd);
  else data = `${e.revision}@${e.streamName}`;
  const meta: Record<string, unknown> = { $v: '1:-1:1:4', $c: sourcePosition, $p: sourcePosition };
  if (view.name.startsWith('$ce-')) meta.$o = e.streamName;
  meta.$causedBy = e.id;
  return encodeRecordedEvent(view.name, revision, sourcePosition, e.createdTicks, {
    id: stableId(view.name, revision),
    type: reference ? STREAM_REFERENCE_TYPE : LINK_TYPE,
    contentType: OCTET_STREAM,
    data: Buffer.from(data, 'utf8'),
    customMetadata: Buffer.from(JSON.stringify(meta), 'utf8'),
  });
}

function stableId(streamName: string, revision: number): string {
  const h = createHash('md5').update(`${streamName}\u0000${revision}`).digest();
  h[6] = (h[6] & 0x0f) | 0x30; // version 3 (name-based, MD5)
  h[8] = (h[8] & 0x3f) | 0x80;
  const x = h.toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}
