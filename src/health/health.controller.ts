import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApplicationError } from '../http/problem';
import { ReadModelProgress } from '../projections/read-model-progress';
import { EventStoreHealthIndicator } from './event-store.health-indicator';
import { HealthDto } from './health.dto';

/**
 * A custom check rather than `@nestjs/terminus`: there is a single dependency to probe, and a
 * failure has to be an ordinary problem+json answer like every other error of the API.
 */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly eventStore: EventStoreHealthIndicator,
    private readonly projections: ReadModelProgress,
  ) {}

  /**
   * Ready means ready: besides a store that answers, the projections must have caught up with what
   * the log held when the service started. Until then they read the log after their saved checkpoint
   * on this process's event loop (after a restart that includes the snapshot streams written
   * since), so traffic sent earlier would queue behind that catch-up, and every
   * projection read would answer 503 anyway. The event-store probe goes first: a store that is down
   * is the more useful thing to report.
   */
  @Get()
  @ApiOperation({
    summary: 'Readiness: the event store is reachable and the projections have caught up since the start',
  })
  @ApiOkResponse({ type: HealthDto, description: '`{status: "ok", eventStore: "up"}`' })
  @ApiResponse({
    status: 503,
    description:
      'problem+json `event_store_unavailable` with `eventStore: "down"`, or `projection_rebuilding` with ' +
      '`eventStore: "up", projections: "catching_up"` while the projections catch up after a start',
  })
  async ready(): Promise<{ status: 'ok'; eventStore: 'up' }> {
    if (!(await this.eventStore.isUp())) {
      throw new ApplicationError('event_store_unavailable', 'Not ready: the event store does not answer.', {
        eventStore: 'down',
      });
    }
    if (!this.projections.isCaughtUp()) {
      throw new ApplicationError(
        'projection_rebuilding',
        'Not ready: the projections are catching up with the event log since the start.',
        { eventStore: 'up', projections: 'catching_up' },
      );
    }
    return { status: 'ok', eventStore: 'up' };
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving HTTP, whatever the event store does' })
  @ApiOkResponse({ type: HealthDto })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
