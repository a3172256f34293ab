import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, Matches } from 'class-validator';

export class FeedQueryDto {
  @ApiPropertyOptional({
    description: "an event's cursor: only events after it; from the first event when absent",
  })
  @IsOptional()
  @Matches(/^(0|[1-9]\d{0,18})$/, { message: 'after must be the cursor of a feed event' })
  after?: string;

  @ApiPropertyOptional({ description: '1–1000, default 100 (pages only; a live stream has no limit)' })
  @IsOptional()
  @Matches(/^[1-9]\d{0,3}$/, { message: 'limit must be an integer from 1 to 1000' })
  limit?: string;

  @ApiPropertyOptional({
    description: 'only these event types, comma-separated (e.g. `UsageRecorded,QuotaAllocated`)',
  })
  @IsOptional()
  @Matches(/^[A-Z][A-Za-z]{0,63}(?:,[A-Z][A-Za-z]{0,63}){0,49}$/, {
    message: 'types must be event type names separated by commas',
  })
  types?: string;

  @ApiPropertyOptional({
    description: 'only events about this sub-account (its `subAccountId`, or an invoice billed to it)',
  })
  @IsOptional()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'subAccountId must be a sub-account id' })
  subAccountId?: string;
}

export class FeedEventDto {
  @ApiProperty({ description: 'the stream revision (decimal): resume after this event with `after=`' })
  cursor!: string;

  @ApiProperty({ format: 'uuid' }) eventId!: string;
  @ApiProperty({ description: 'PascalCase past tense, e.g. UsageRecorded (docs/events.md)' }) type!: string;

  @ApiProperty({ type: 'object', additionalProperties: true, description: "the event's data" })
  data!: Record<string, unknown>;

  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: '$correlationId, $causationId, actor, requestId, schemaVersion, recordedAt',
  })
  metadata!: Record<string, unknown>;

  @ApiProperty({ type: String, nullable: true, description: 'position in $all (decimal)' })
  position!: string | null;
}

export class FeedPageDto {
  @ApiProperty({ type: FeedEventDto, isArray: true }) events!: FeedEventDto[];

  @ApiProperty({
    type: String,
    nullable: true,
    description:
      'ask for the next page with after=nextCursor; with filters it can move past events that did not match',
  })
  nextCursor!: string | null;
}
