/** The injection token of the webhook settings (`webhook-settings.ts`). */
export const WEBHOOK_SETTINGS = Symbol('WEBHOOK_SETTINGS');

/** The stream category of webhook events (`webhooks-<parentId>`): `WebhookEndpointDisabled`. */
export const WEBHOOK_STREAM_CATEGORY = 'webhooks';

/** The log streams whose events are delivered: every ledger's and every parent's webhook stream. */
export const DELIVERED_STREAM_PREFIXES = ['ledger-', `${WEBHOOK_STREAM_CATEGORY}-`] as const;

/** Event types that are not ledger events but may be named in an endpoint's `eventTypes`. */
export const WEBHOOK_EVENT_TYPES = ['WebhookEndpointDisabled'] as const;
