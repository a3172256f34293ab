import {
  BeforeApplicationShutdown,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
} from '@nestjs/common';
import type { EventStoreDBClient } from '@eventstore/db-client';
import { Database } from '../database/database';
import { EVENT_STORE_CLIENT } from '../event-store/event-store-client.provider';
import { LedgerApplicationModule } from '../ledger/application/ledger-application.module';
import { WEBHOOK_SETTINGS } from './application/webhook-delivery.constants';
import { WebhookEndpointsService } from './application/webhook-endpoints.service';
import { WebhookOutbox } from './application/webhook-outbox';
import { WebhookSender } from './application/webhook-sender';
import { webhookSettingsFrom } from './application/webhook-settings';
import { WebhookEndpointsController } from './http/webhook-endpoints.controller';

/** Starts the delivery worker (outbox, then sender) once the app is up; stops both before the pool closes. */
@Injectable()
class WebhookDeliveryLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('Webhooks');
  private readonly outbox: WebhookOutbox;

  constructor(
    @Inject(EVENT_STORE_CLIENT) client: EventStoreDBClient,
    database: Database,
    private readonly sender: WebhookSender,
  ) {
    this.outbox = new WebhookOutbox(client, database, () => sender.wake(), this.logger);
  }

  onApplicationBootstrap(): void {
    this.outbox.start();
    this.sender.start(this.logger);
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.outbox.stop();
    await this.sender.stop();
  }
}

/** Signed webhooks (SPEC §11): endpoints per parent, the delivery worker and its log. */
@Module({
  imports: [LedgerApplicationModule],
  providers: [
    // The process environment, as the tools and main read it (docs/webhooks.md lists the settings).
    { provide: WEBHOOK_SETTINGS, useFactory: () => webhookSettingsFrom(process.env) },
    WebhookSender,
    WebhookEndpointsService,
    WebhookDeliveryLifecycle,
  ],
  controllers: [WebhookEndpointsController],
})
export class WebhooksModule {}
