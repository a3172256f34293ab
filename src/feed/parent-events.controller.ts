import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Roles } from '../auth/roles.decorator';
import { ApplicationError } from '../http/problem';
import { LedgerService, type RequestContext } from '../ledger/application/ledger.service';
import { requireParent } from '../ledger/domain';
import { Context } from '../ledger/http/request-context.decorator';
import { MAX_FEED_LIMIT, ParentFeedService, type FeedPage } from '../projections';
import { FeedQueryDto } from './feed.dto';

const DEFAULT_LIMIT = 100;
/** A comment line now and then keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;

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
    summary: "The parent's events in order, resumable from a cursor; live with text/event-stream",
  })
  async events(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Query() query: FeedQueryDto,
    @Headers('accept') accept: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<FeedPage | undefined> {
    await this.ledger.read(context, parentId, (state) => {
      requireParent(state);
      return null;
    });
    if (!(accept ?? '').includes('text/event-stream')) {
      return this.feed.page(parentId, {
        ...(query.after === undefined ? {} : { after: query.after }),
        limit: query.limit === undefined ? DEFAULT_LIMIT : Number(query.limit),
      });
    }
    const after = query.after ?? lastEventId;
    if (after !== undefined && !/^(0|[1-9]\d{0,18})$/.test(after)) {
      throw new ApplicationError('validation_failed', 'Last-Event-ID must be the cursor of a feed event');
    }
    if (query.limit !== undefined && Number(query.limit) > MAX_FEED_LIMIT) {
      throw new ApplicationError('validation_failed', `limit must be at most ${MAX_FEED_LIMIT}`);
    }
    this.stream(parentId, after, reply);
    return undefined;
  }

  private stream(parentId: string, after: string | undefined, reply: FastifyReply): void {
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
