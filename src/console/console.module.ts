import { Module } from '@nestjs/common';
import { ConsoleController } from './console.controller';

/** The console at `/console` (SPEC §12, docs/console.md). */
@Module({ controllers: [ConsoleController] })
export class ConsoleModule {}
