import { ApiPropertyOptional } from '@nestjs/swagger';
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
}
