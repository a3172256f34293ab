import { handleServerStreamingCall, handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { ProjectionsService } from '@eventstore/db-client/generated/projections_grpc_pb';
import {
  DisableReq,
  DisableResp,
  EnableReq,
  EnableResp,
  StatisticsReq,
  StatisticsResp,
} from '@eventstore/db-client/generated/projections_pb';
import { EventStoreEngine } from '../engine/event-store.engine';
import { isSystemProjectionName, ProjectionStatistics } from '../engine/system-projections';
import { projectionNotFoundError } from './rpc-errors';
import { unimplementedImplementation } from './unimplemented.service';

/**
 * The Projections service as far as the four standard projections go: Enable, Disable and Statistics
 * (getProjectionStatus, listProjections). They are the only projections this server has; creating,
 * updating, deleting or resetting projections, and user (JavaScript) projections, answer UNIMPLEMENTED.
 */
export function projectionsImplementation(engine: EventStoreEngine): UntypedServiceImplementation {
  const toggle =
    (enabled: boolean) =>
    (name: string, callback: (err: unknown, resp?: EnableResp | DisableResp) => void): void => {
      if (!isSystemProjectionName(name)) return callback(projectionNotFoundError(name));
      engine.setProjectionEnabled(name, enabled).then(
        () => callback(null, enabled ? new EnableResp() : new DisableResp()),
        (err: unknown) => callback(err),
      );
    };
  const enable: handleUnaryCall<EnableReq, EnableResp> = (call, callback) =>
    toggle(true)(call.request.getOptions()?.getName() ?? '', callback as never);
  const disable: handleUnaryCall<DisableReq, DisableResp> = (call, callback) =>
    toggle(false)(call.request.getOptions()?.getName() ?? '', callback as never);

  const statistics: handleServerStreamingCall<StatisticsReq, StatisticsResp> = (call) => {
    const o = call.request.getOptions();
    const name = o?.getName() ?? '';
    let stats = engine.projections.statistics();
    if (name) {
      stats = stats.filter((s) => s.name === name);
      if (stats.length === 0) return call.emit('error', projectionNotFoundError(name));
    } else if (o?.hasTransient() || o?.hasOneTime()) {
      stats = []; // every projection here is continuous
    }
    for (const s of stats) call.write(new StatisticsResp().setDetails(details(engine, s)));
    call.end();
  };

  return { ...unimplementedImplementation(ProjectionsService), enable, disable, statistics };
}

function details(engine: EventStoreEngine, s: ProjectionStatistics): StatisticsResp.Details {
  const index = engine.index;
  const total = index.count;
  const position = s.checkpoint > 0 ? index.position(s.checkpoint - 1) : -1;
  const tag = position < 0 ? 'C:0/P:-1' : `C:${position}/P:${position}`;
  return new StatisticsResp.Details()
    .setCoreprocessingtime('0')
    .setVersion('1')
    .setEpoch('-1')
    .setEffectivename(s.name)
    .setWritesinprogress(0)
    .setReadsinprogress(0)
    .setPartitionscached(1)
    .setStatus(s.enabled ? 'Running' : 'Stopped')
    .setStatereason('')
    .setName(s.name)
    .setMode('Continuous')
    .setPosition(tag)
    .setProgress(total === 0 ? 100 : Math.min(100, (100 * s.checkpoint) / total))
    .setLastcheckpoint(tag)
    .setEventsprocessedafterrestart(String(s.eventsProcessedAfterRestart))
    .setCheckpointstatus('')
    .setBufferedevents('0')
    .setWritependingeventsbeforecheckpoint(0)
    .setWritependingeventsaftercheckpoint(0);
}
