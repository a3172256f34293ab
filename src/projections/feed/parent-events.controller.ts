import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../../auth/roles.decorator';
import { ApplicationError } from '../../http/problem';
import { Context, type RequestContext } from '../../auth/request-context';
import { LedgerService } from '../../ledger/application/ledger.service';
import { LEDGER_EVENT_TYPES, requireParent } from '../../ledger/domain';
import { FeedPageDto, FeedQueryDto } from './feed.dto';
import { MAX_FEED_LIMIT, ParentFeedService, type FeedEvent, type FeedPage } from './parent-feed.service';

const DEFAULT_LIMIT = 100;
/** A comment line now and then keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** A filtered page reads the stream in chunks of this many events… */
const SCAN_CHUNK = 1_000;
/** …and answers after examining at most this many, with `nextCursor` past them, even if few matched. */
const MAX_SCAN = 10_000;

type FeedFilter = (event: FeedEvent) => boolean;

/**
 * `GET /v1/parents/{p}/events`: the parent's own stream in commit order, each event with its
 * stream revision as cursor. JSON pages by default; `Accept: text/event-stream` stays open and
 * streams new events as they are appended, SSE `id:` being the cursor so that a reconnecting
 * client's `Last-Event-ID` resumes right after the last event it saw.
 */
@ApiTags('events')
@ApiBearerAuth()
@Controller('v1/parents/:p')
export class ParentEventsController {
  constructor(
    private readonly ledger: LedgerService,
    private readonly feed: ParentFeedService,
  ) {}

  @Get('events')
  @Roles('operator', 'parent')
  @ApiProduces('application/json', 'text/event-stream')
  @ApiOperation({
    summary:
      "The parent's events in order, resumable from a cursor, filtered by `types` and `subAccountId`; " +
      'live with text/event-stream (same filters)',
  })
  @ApiOkResponse({
    type: FeedPageDto,
    description: 'a page (JSON), or with Accept: text/event-stream an open SSE stream of FeedEvent',
  })
  async events(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Query() query: FeedQueryDto,
    @Headers('accept') accept: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<FeedPage | undefined> {
    const filter = feedFilter(query);
    await this.ledger.read(context, parentId, (state) => {
      requireParent(state);
      return null;
    });
    if (!(accept ?? '').includes('text/event-stream')) {
      const limit = query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit);
      if (!filter) {
        return this.feed.page(parentId, {
          ...(query.after === undefined ? {} : { after: query.after }),
          limit,
        });
      }
      return this.filteredPage(parentId, query.after, limit, filter);
    }
    const after = query.after ?? lastEventId;
    if (after !== undefined && !/^(0|[1-9]\d{0,18})$/.test(after)) {
      throw new ApplicationError('validation_failed', 'Last-Event-ID must be the cursor of a feed event');
    }
    if (query.limit !== undefined && Number(query.limit) > MAX_FEED_LIMIT) {
      throw new ApplicationError('validation_failed', `limit must be at most ${MAX_FEED_LIMIT}`);
    }
    this.stream(parentId, after, filter, reply);
    return undefined;
  }

  /**
   * Reads on in chunks until `limit` events matched, the stream ended, or MAX_SCAN events were
   * examined. `nextCursor` is the last event returned when the page is full, else the last event
   * examined: resuming from it neither repeats nor skips an event that matches.
   */
  private async filteredPage(
    parentId: string,
    after: string | undefined,
    limit: number,
    filter: FeedFilter,
  ): Promise<FeedPage> {
    const events: FeedEvent[] = [];
    let cursor = after;
    for (let scanned = 0; scanned < MAX_SCAN; scanned += SCAN_CHUNK) {
      const chunk = await this.feed.page(parentId, {
        ...(cursor === undefined ? {} : { after: cursor }),
        limit: SCAN_CHUNK,
      });
      for (const event of chunk.events) {
        if (!filter(event)) continue;
        events.push(event);
        if (events.length === limit) return { events, nextCursor: event.cursor };
      }
      cursor = chunk.nextCursor ?? cursor;
      if (chunk.events.length < SCAN_CHUNK) break;
    }
    return { events, nextCursor: cursor ?? null };
  }

  private stream(
    parentId: string,
    after: string | undefined,
    filter: FeedFilter | undefined,
    reply: FastifyReply,
  ): void {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'x-request-id': String(reply.request.id),
    });
    raw.write('retry: 1000\n\n');
    const abort = new AbortController();
    const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), HEARTBEAT_MS);
    raw.on('close', () => abort.abort());
    void (async () => {
      try {
        for await (const event of this.feed.live(parentId, {
          ...(after === undefined ? {} : { after }),
          signal: abort.signal,
        })) {
          if (filter && !filter(event)) continue;
          raw.write(`id: ${event.cursor}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
        }
      } catch (error) {
        if (!abort.signal.aborted) {
          const detail = error instanceof Error ? error.message : String(error);
          raw.write(`event: error\ndata: ${JSON.stringify({ code: 'event_store_unavailable', detail })}\n\n`);
        }
      } finally {
        clearInterval(heartbeat);
        raw.end();
      }
    })();
  }
}

/** The `types` and `subAccountId` filters as one predicate; undefined when neither is given. */
function feedFilter(query: FeedQueryDto): FeedFilter | undefined {
  const types = query.types === undefined ? undefined : new Set(query.types.split(','));
  if (types) {
    const unknown = [...types].filter((type) => !(LEDGER_EVENT_TYPES as readonly string[]).includes(type));
    if (unknown.length > 0) {
      throw new ApplicationError(
        'validation_failed',
        `Unknown event type ${unknown.join(', ')}; known: ${LEDGER_EVENT_TYPES.join(', ')}.`,
        { errors: [{ field: 'types', message: `unknown event type ${unknown.join(', ')}` }] },
      );
    }
  }
  const subAccountId = query.subAccountId;
  if (!types && subAccountId === undefined) return undefined;
  return (event) =>
    (!types || types.has(event.type)) && (subAccountId === undefined || isAbout(event, subAccountId));
}

/** Events whose data names the sub-account (a lot's lapse among others), and invoices billed to it. */
function isAbout(event: FeedEvent, subAccountId: string): boolean {
  const data = event.data;
  if (typeof data !== 'object' || data === null) return false;
  if ('subAccountId' in data && data.subAccountId === subAccountId) return true;
  // CreditsExpired: a lot's lapse names every sub-account whose quota held some of it.
  if (
    'fromSubAccounts' in data &&
    Array.isArray(data.fromSubAccounts) &&
    data.fromSubAccounts.some((from: { subAccountId?: unknown }) => from.subAccountId === subAccountId)
  ) {
    return true;
  }
  const billTo = 'billTo' in data ? data.billTo : undefined;
  return (
    typeof billTo === 'object' &&
    billTo !== null &&
    'type' in billTo &&
    billTo.type === 'sub-account' &&
    'id' in billTo &&
    billTo.id === subAccountId
  );
}
