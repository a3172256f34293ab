import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { Context, type RequestContext } from '../../auth/request-context';
import { Roles } from '../../auth/roles.decorator';
import {
  WebhookEndpointsService,
  type WebhookDelivery,
  type WebhookEndpoint,
} from '../application/webhook-endpoints.service';
import {
  CreatedWebhookEndpointDto,
  CreateWebhookEndpointDto,
  DeliveriesQueryDto,
  UpdateWebhookEndpointDto,
  WebhookDeliveryDto,
  WebhookDeliveryListDto,
  WebhookEndpointDto,
  WebhookEndpointListDto,
} from './webhook-endpoints.dto';

/**
 * A parent's webhook endpoints and their delivery log (SPEC §11, docs/webhooks.md). Deliveries follow
 * Standard Webhooks: verify them with the secret returned once by the POST.
 */
@ApiTags('webhooks')
@ApiBearerAuth()
@Controller('v1/parents/:p/webhook-endpoints')
export class WebhookEndpointsController {
  constructor(private readonly endpoints: WebhookEndpointsService) {}

  @Post()
  @Roles('operator', 'parent')
  @ApiOperation({
    summary: 'Register an endpoint; the answer carries its signing secret, shown only this once',
  })
  @ApiCreatedResponse({ type: CreatedWebhookEndpointDto })
  create(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Body() body: CreateWebhookEndpointDto,
  ): Promise<WebhookEndpoint & { secret: string }> {
    return this.endpoints.create(context, parentId, body);
  }

  @Get()
  @Roles('operator', 'parent')
  @ApiOperation({ summary: "The parent's endpoints (without secrets)" })
  @ApiOkResponse({ type: WebhookEndpointListDto })
  async list(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
  ): Promise<{ endpoints: WebhookEndpoint[] }> {
    return { endpoints: await this.endpoints.list(context, parentId) };
  }

  @Get(':e')
  @Roles('operator', 'parent')
  @ApiOperation({ summary: 'One endpoint (without its secret)' })
  @ApiOkResponse({ type: WebhookEndpointDto })
  get(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('e') endpointId: string,
  ): Promise<WebhookEndpoint> {
    return this.endpoints.get(context, parentId, endpointId);
  }

  @Patch(':e')
  @Roles('operator', 'parent')
  @ApiOperation({
    summary:
      'Change the url, the event types or the description; disable it, or enable it again (`disabled`)',
  })
  @ApiOkResponse({ type: WebhookEndpointDto })
  update(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('e') endpointId: string,
    @Body() body: UpdateWebhookEndpointDto,
  ): Promise<WebhookEndpoint> {
    return this.endpoints.update(context, parentId, endpointId, body);
  }

  @Delete(':e')
  @Roles('operator', 'parent')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Delete an endpoint: nothing more is sent to it; pending deliveries are cancelled',
  })
  @ApiNoContentResponse({ description: 'done; no body' })
  async delete(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('e') endpointId: string,
  ): Promise<void> {
    await this.endpoints.delete(context, parentId, endpointId);
  }

  @Get(':e/deliveries')
  @Roles('operator', 'parent')
  @ApiOperation({ summary: "The endpoint's deliveries, newest first: status, attempts, next retry" })
  @ApiOkResponse({ type: WebhookDeliveryListDto })
  async deliveries(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('e') endpointId: string,
    @Query() query: DeliveriesQueryDto,
  ): Promise<{ deliveries: WebhookDelivery[] }> {
    return {
      deliveries: await this.endpoints.deliveries(context, parentId, endpointId, {
        ...(query.status === undefined ? {} : { status: query.status }),
        limit: query.limit === undefined ? 100 : Number(query.limit),
      }),
    };
  }

  @Post(':e/deliveries/:d/redeliver')
  @Roles('operator', 'parent')
  @HttpCode(202)
  @ApiOperation({ summary: 'Send a delivery again, now, with a fresh retry schedule' })
  @ApiAcceptedResponse({ type: WebhookDeliveryDto })
  redeliver(
    @Context() context: RequestContext,
    @Param('p') parentId: string,
    @Param('e') endpointId: string,
    @Param('d') deliveryId: string,
  ): Promise<WebhookDelivery> {
    return this.endpoints.redeliver(context, parentId, endpointId, deliveryId);
  }
}
