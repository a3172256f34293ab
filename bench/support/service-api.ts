/** The few calls the bench makes outside the load generator: setting up parents and reading balances. */
export interface CallResult {
  readonly status: number;
  readonly body: any;
  readonly ms: number;
}

export async function call(
  baseUrl: string,
  method: string,
  urlPath: string,
  token: string,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<CallResult> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}${urlPath}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  const ms = performance.now() - started;
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: keep the text for the error message
  }
  return { status: response.status, body: parsed, ms };
}

/** Throws with the answer when the status is not the expected one. */
export async function expectCall(expected: number, ...args: Parameters<typeof call>): Promise<CallResult> {
  const result = await call(...args);
  if (result.status !== expected) {
    throw new Error(
      `${args[1]} ${args[2]} answered ${result.status} (expected ${expected}): ${JSON.stringify(result.body).slice(0, 500)}`,
    );
  }
  return result;
}

export interface HotParent {
  readonly parentId: string;
  readonly secret: string;
  readonly subAccountIds: string[];
}

/** A parent opened by the operator, with credits and `subAccounts` sub-accounts holding `quota` each. */
export async function setUpParent(
  baseUrl: string,
  operatorToken: string,
  parentId: string,
  subAccounts: number,
  quota: number,
): Promise<HotParent> {
  const opened = await expectCall(201, baseUrl, 'POST', '/v1/parents', operatorToken, {
    id: parentId,
    name: `Bench ${parentId}`,
    currency: 'EUR',
    creditPrice: '0.00099',
  });
  const secret = opened.body?.apiKey?.secret as string;
  if (typeof secret !== 'string')
    throw new Error(`POST /v1/parents returned no apiKey.secret: ${JSON.stringify(opened.body)}`);
  await expectCall(201, baseUrl, 'POST', `/v1/parents/${parentId}/credits`, operatorToken, {
    credits: subAccounts * quota,
  }).catch(async (error: Error) => {
    // 200 is as good as 201 for adding credits; only a failure matters here.
    if (!/answered 200 /.test(error.message)) throw error;
  });
  const subAccountIds: string[] = [];
  for (let i = 0; i < subAccounts; i++) {
    const id = `sub-${String(i).padStart(4, '0')}`;
    await expectCall(201, baseUrl, 'POST', `/v1/parents/${parentId}/sub-accounts`, secret, {
      id,
      name: `Sub ${i}`,
      billingModel: 'bill-to-parent',
      quota,
    });
    subAccountIds.push(id);
  }
  return { parentId, secret, subAccountIds };
}

/** The first number called `used` anywhere in a balance answer, whatever its exact shape. */
export function findUsed(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const record = body as Record<string, unknown>;
  if (typeof record.used === 'number') return record.used;
  for (const value of Object.values(record)) {
    const found = findUsed(value);
    if (found !== undefined) return found;
  }
  return undefined;
}
