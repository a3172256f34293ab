import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ApplicationError } from '../http/problem';
import { EventStoreHealthIndicator } from './event-store.health-indicator';

/**
 * A custom check rather than `@nestjs/terminus`: there is a single dependency to probe, and a
 * failure has to be an ordinary problem+json answer like every other error of the API.
 */
@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(private readonly eventStore: EventStoreHealthIndicator) {}

  @Get()
  @ApiOperation({ summary: 'Readiness: the service answers and its event store is reachable' })
  @ApiResponse({ status: 200, description: '`{status: "ok", eventStore: "up"}`' })
  @ApiResponse({
    status: 503,
    description: 'problem+json `event_store_unavailable` with `eventStore: "down"`',
  })
  async ready(): Promise<{ status: 'ok'; eventStore: 'up' }> {
    if (!(await this.eventStore.isUp())) {
      throw new ApplicationError('event_store_unavailable', 'Not ready: the event store does not answer.', {
        eventStore: 'down',
      });
    }
    return { status: 'ok', eventStore: 'up' };
  }

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up and serving HTTP, whatever the event store does' })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
