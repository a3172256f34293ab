import { Module } from '@nestjs/common';
import { AuditController } from './audit.controller';

/** The audit chain's verification route (SPEC §11); the chain itself is written by the command processor. */
@Module({ controllers: [AuditController] })
export class AuditModule {}
