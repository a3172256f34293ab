import { Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { ProblemDetailsFilter } from './problem-details.filter';
import { RequestValidationPipe } from './validation.pipe';

/**
 * The global filter and pipe, registered as providers rather than with `app.useGlobal*()` so that
 * an application built by `Test.createTestingModule` over AppModule gets them too.
 */
@Module({
  providers: [
    { provide: APP_FILTER, useClass: ProblemDetailsFilter },
    { provide: APP_PIPE, useClass: RequestValidationPipe },
  ],
})
export class HttpModule {}
