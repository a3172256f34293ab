import { randomUUID } from 'node:crypto';
import { handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { ClusterInfo, EndPoint, MemberInfo } from '@eventstore/db-client/generated/gossip_pb';
import { Empty, UUID } from '@eventstore/db-client/generated/shared_pb';

/** .NET ticks (100 ns since 0001-01-01) at the Unix epoch, as a real node stamps its gossip. */
const TICKS_AT_UNIX_EPOCH = 621_355_968_000_000_000n;

/**
 * Gossip.Read as a single real node answers it: one member, this node, alive and leader, at the
 * address clients should reach it on. Clients given `esdb+discover://` or several endpoints ask this
 * first and then connect to the member they pick, so the address must be the node's real one.
 */
export function gossipImplementation(
  endpoint: () => { host: string; port: number },
  instanceId: string = randomUUID(),
): UntypedServiceImplementation {
  const read: handleUnaryCall<Empty, ClusterInfo> = (_call, callback) => {
    const { host, port } = endpoint();
    const id = new UUID();
    id.setString(instanceId);
    const http = new EndPoint();
    http.setAddress(host);
    http.setPort(port);
    const member = new MemberInfo();
    member.setInstanceId(id);
    member.setTimeStamp(String(TICKS_AT_UNIX_EPOCH + BigInt(Date.now()) * 10_000n));
    member.setState(MemberInfo.VNodeState.LEADER);
    member.setIsAlive(true);
    member.setHttpEndPoint(http);
    callback(null, new ClusterInfo().setMembersList([member]));
  };
  return { read };
}
