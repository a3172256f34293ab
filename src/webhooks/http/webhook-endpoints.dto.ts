import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsIn,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  ValidateIf,
} from 'class-validator';
import { IsNonBlank } from '../../http/validators';
import { LEDGER_EVENT_TYPES } from '../../ledger/domain';
import { WEBHOOK_EVENT_TYPES } from '../application/webhook-delivery.constants';

/** Every event type an endpoint may ask for. */
export const DELIVERABLE_EVENT_TYPES: readonly string[] = [...LEDGER_EVENT_TYPES, ...WEBHOOK_EVENT_TYPES];
const EVENT_TYPES_MESSAGE = `eventTypes must name event types among ${DELIVERABLE_EVENT_TYPES.join(', ')}`;
/** No control characters nor bidi overrides in what a person reads (SPEC §7). */
const PRINTABLE = /^[^\p{Cc}\u202A-\u202E\u2066-\u2069]*$/u;

export class CreateWebhookEndpointDto {
  @ApiProperty({ description: 'http(s) URL the events are POSTed to', example: 'https://example.com/hooks' })
  @IsString()
  @MaxLength(2048)
  @Matches(/^https?:\/\/\S+$/i, { message: 'url must be an absolute http or https URL' })
  url!: string;

  @ApiPropertyOptional({
    type: [String],
    description: 'only these event types (default: all), e.g. ["UsageRecorded", "QuotaThresholdReached"]',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsIn(DELIVERABLE_EVENT_TYPES, { each: true, message: EVENT_TYPES_MESSAGE })
  eventTypes?: string[];

  @ApiPropertyOptional({ maxLength: 200 })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @IsNonBlank()
  @Matches(PRINTABLE, { message: 'description must not contain control characters or bidi overrides' })
  description?: string;
}

export class UpdateWebhookEndpointDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(2048)
  @Matches(/^https?:\/\/\S+$/i, { message: 'url must be an absolute http or https URL' })
  url?: string;

  @ApiPropertyOptional({ type: [String], description: 'empty: all event types' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(100)
  @IsIn(DELIVERABLE_EVENT_TYPES, { each: true, message: EVENT_TYPES_MESSAGE })
  eventTypes?: string[];

  @ApiPropertyOptional({ description: 'true stops deliveries; false enables the endpoint again' })
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 200 })
  @ValidateIf((_, value) => value !== null)
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @IsNonBlank()
  @Matches(PRINTABLE, { message: 'description must not contain control characters or bidi overrides' })
  description?: string | null;
}

export class WebhookEndpointDto {
  @ApiProperty({ example: 'ep_5f0c…' }) id!: string;
  @ApiProperty() url!: string;
  @ApiProperty({ type: String, nullable: true }) description!: string | null;
  @ApiProperty({ type: [String], description: 'empty: every event type' }) eventTypes!: string[];
  @ApiProperty() disabled!: boolean;
  @ApiProperty({
    type: String,
    nullable: true,
    description: 'manual, gone (the receiver answered 410) or retries_exhausted',
  })
  disabledReason!: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) disabledAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ format: 'date-time' }) updatedAt!: string;
}

export class CreatedWebhookEndpointDto extends WebhookEndpointDto {
  @ApiProperty({
    description: 'the signing secret (Standard Webhooks, whsec_…): shown here once, never again',
  })
  secret!: string;
}

export class WebhookEndpointListDto {
  @ApiProperty({ type: [WebhookEndpointDto] }) endpoints!: WebhookEndpointDto[];
}

export class DeliveryAttemptDto {
  @ApiProperty() attempt!: number;
  @ApiProperty({ format: 'date-time' }) attemptedAt!: string;
  @ApiProperty({ type: Number, nullable: true, description: 'HTTP status; null when no answer came' })
  status!: number | null;

  @ApiProperty({ type: String, nullable: true }) error!: string | null;
  @ApiProperty() durationMs!: number;
}

export class WebhookDeliveryDto {
  @ApiProperty() id!: string;
  @ApiProperty() endpointId!: string;
  @ApiProperty({ format: 'uuid', description: 'the event id, also the webhook-id header' }) eventId!: string;
  @ApiProperty() eventType!: string;
  @ApiProperty() streamRevision!: string;
  @ApiProperty({ enum: ['pending', 'delivered', 'failed', 'cancelled'] }) status!: string;
  @ApiProperty() attempts!: number;
  @ApiProperty({
    type: String,
    nullable: true,
    format: 'date-time',
    description: 'next retry (pending only)',
  })
  nextAttemptAt!: string | null;

  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) lastAttemptAt!: string | null;
  @ApiProperty({ type: Number, nullable: true }) lastStatus!: number | null;
  @ApiProperty({ type: String, nullable: true }) lastError!: string | null;
  @ApiProperty({ type: String, nullable: true, format: 'date-time' }) deliveredAt!: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt!: string;
  @ApiProperty({ type: [DeliveryAttemptDto] }) attemptLog!: DeliveryAttemptDto[];
}

export class WebhookDeliveryListDto {
  @ApiProperty({ type: [WebhookDeliveryDto] }) deliveries!: WebhookDeliveryDto[];
}

export class DeliveriesQueryDto {
  @ApiPropertyOptional({ enum: ['pending', 'delivered', 'failed', 'cancelled'] })
  @IsOptional()
  @IsIn(['pending', 'delivered', 'failed', 'cancelled'], {
    message: 'status must be one of pending, delivered, failed, cancelled',
  })
  status?: string;

  @ApiPropertyOptional({ description: '1–1000, default 100; newest first' })
  @IsOptional()
  @Matches(/^[1-9]\d{0,3}$/, { message: 'limit must be an integer from 1 to 1000' })
  limit?: string;
}
