import { KurrentDBClient, WrongExpectedVersionError } from '@kurrent/kurrentdb-client';

/**
 * `@kurrent/kurrentdb-client` 1.3.1 (the maintained successor of `@eventstore/db-client`, same v1
 * protocol) under the names the conformance suites import from `@eventstore/db-client`. The wrappers in
 * this folder mock that module with this one, so the unchanged suites (and `test/support/event-store.ts`)
 * run their assertions through the successor client. What the successor renamed is mapped back here,
 * and nothing else: the client class (which speaks `kurrentdb://` strings), `appendToStream`'s
 * `expectedRevision` option (now `streamState`), and the wrong-expected-version error's
 * `expectedVersion` / `actualVersion` (now `expectedState` / `actualState`, same values).
 */
export * from '@kurrent/kurrentdb-client';

/** Connection strings converted to the successor's scheme, so a wrapper can show the mock was used. */
export const convertedConnectionStrings: string[] = [];

export function toKurrentConnectionString(connectionString: string): string {
  return connectionString.replace(/^esdb(\+discover)?:\/\//, (_match, discover?: string) => {
    return `kurrentdb${discover ?? ''}://`;
  });
}

interface V6Settings {
  endpoint?: string | { address: string; port?: number };
  endpoints?: { address: string; port?: number }[];
  discover?: { address: string; port?: number };
  discoveryInterval?: number;
  maxDiscoverAttempts?: number;
  gossipTimeout?: number;
  nodePreference?: string;
}

/**
 * The 6.x constructor's settings as a connection string: 1.3.1's constructor takes its Rust bridge
 * client first and is built through `connectionString` only.
 */
function connectionStringOf(
  settings: V6Settings,
  channel: { insecure?: boolean } = {},
  user?: { username: string; password: string },
): string {
  const host = (e: string | { address: string; port?: number }) =>
    typeof e === 'string' ? e : `${e.address}:${e.port ?? 2113}`;
  const hosts = settings.endpoints ?? [settings.discover ?? settings.endpoint ?? 'localhost:2113'];
  const scheme = settings.discover ? 'kurrentdb+discover' : 'kurrentdb';
  const auth = user ? `${encodeURIComponent(user.username)}:${encodeURIComponent(user.password)}@` : '';
  const params = new URLSearchParams({ tls: String(!channel.insecure) });
  for (const key of [
    'discoveryInterval',
    'maxDiscoverAttempts',
    'gossipTimeout',
    'nodePreference',
  ] as const) {
    if (settings[key] !== undefined) params.set(key, String(settings[key]));
  }
  return `${scheme}://${auth}${hosts.map(host).join(',')}?${params.toString()}`;
}

/** Not a subclass: both ways of making a client hand back the successor's own `KurrentDBClient`. */
export class EventStoreDBClient {
  /** `new EventStoreDBClient(settings, channelCredentials, userCredentials)` as in 6.x. */
  constructor(
    settings: V6Settings,
    channel?: { insecure?: boolean },
    user?: { username: string; password: string },
  ) {
    const converted = connectionStringOf(settings, channel, user);
    convertedConnectionStrings.push(converted);
    // A constructor may hand back another object: the client the successor builds from the string.
    return KurrentDBClient.connectionString(converted) as unknown as EventStoreDBClient;
  }

  static connectionString(
    connectionString: TemplateStringsArray | string,
    ...parts: Array<string | number | boolean>
  ): KurrentDBClient {
    const text =
      typeof connectionString === 'string' ? connectionString : String.raw(connectionString, ...parts);
    const converted = toKurrentConnectionString(text);
    convertedConnectionStrings.push(converted);
    return KurrentDBClient.connectionString(converted);
  }
}

type AppendArgs = Parameters<KurrentDBClient['appendToStream']>;
const append = KurrentDBClient.prototype.appendToStream;
KurrentDBClient.prototype.appendToStream = function (
  this: KurrentDBClient,
  stream: AppendArgs[0],
  events: AppendArgs[1],
  options?: AppendArgs[2] & { expectedRevision?: unknown },
) {
  if (options && 'expectedRevision' in options) {
    const { expectedRevision, ...rest } = options;
    options = { ...rest, streamState: expectedRevision as NonNullable<AppendArgs[2]>['streamState'] };
  }
  return append.call(this, stream, events, options);
};

for (const [oldName, newName] of [
  ['expectedVersion', 'expectedState'],
  ['actualVersion', 'actualState'],
] as const) {
  Object.defineProperty(WrongExpectedVersionError.prototype, oldName, {
    get(this: WrongExpectedVersionError) {
      return this[newName];
    },
  });
}
