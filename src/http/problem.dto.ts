import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { PROBLEMS } from './problem';

export class FieldErrorDto {
  @ApiProperty({ description: 'the field, as a path into the body or the query parameter' }) field!: string;
  @ApiProperty() message!: string;
}

/** RFC 9457 problem details, as every error answers (`application/problem+json`). */
export class ProblemDto {
  @ApiProperty({ description: 'a URI naming the problem: https://subledger.dev/problems/<code>' })
  type!: string;

  @ApiProperty({ description: 'a short summary of the problem type' }) title!: string;
  @ApiProperty({ description: 'the HTTP status code' }) status!: number;
  @ApiProperty({ description: 'what went wrong in this occurrence, for people' }) detail!: string;

  @ApiProperty({ enum: Object.keys(PROBLEMS), description: 'stable machine code' })
  code!: string;

  @ApiPropertyOptional({ description: 'the request path' }) instance?: string;
  @ApiPropertyOptional({ description: 'the request id (also in the x-request-id header)' })
  requestId?: string;

  @ApiPropertyOptional({
    type: FieldErrorDto,
    isArray: true,
    description: 'validation_failed: one per field',
  })
  errors?: FieldErrorDto[];
}
