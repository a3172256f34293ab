import { Global, Module } from '@nestjs/common';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Injection token of the service's Prometheus registry; modules of any layer add their own metrics
 * to it (the command processor's, HTTP's), and `/metrics` (src/http) serves it. It stands below
 * both, so the application does not import the HTTP edge to be measured.
 */
export const METRICS_REGISTRY = Symbol('METRICS_REGISTRY');

/**
 * A registry per application rather than prom-client's global one, so that several services
 * started in one test process do not collide over metric names.
 */
function createRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return registry;
}

@Global()
@Module({
  providers: [{ provide: METRICS_REGISTRY, useFactory: createRegistry }],
  exports: [METRICS_REGISTRY],
})
export class MetricsRegistryModule {}
