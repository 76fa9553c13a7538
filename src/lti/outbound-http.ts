import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Agent, buildConnector } from 'undici';
import { BodyTooLargeError, readBoundedText } from '../bounded-body.js';
import { ADDRESS_CLASS_WORDS, classifyAddress, type AddressClass } from './address-policy.js';

/**
 * Requests the tool makes to URLs a platform gave it. Every connection to them (Dynamic
 * Registration, tokens and services, key sets) is checked against the address policy at connect
 * time. Dynamic Registration's requests (fetchJson) are also bounded in time and size, follow no
 * redirects, only http(s), no credentials in the URL; failures are typed so pages can say what
 * went wrong.
 */
export type OutboundFailure = 'invalid_url' | 'address_refused' | 'unreachable' | 'timeout' | 'too_large' | 'not_json' | 'http_status';

export class OutboundError extends Error {
  constructor(
    readonly failure: OutboundFailure,
    message: string,
    readonly status?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }
}

const PRIVATE_NETWORK_ADVICE = '; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network';

const ADDRESS_REFUSED = 'ERR_ADDRESS_REFUSED';

/**
 * A connection the address policy (OUTBOUND_ALLOW_PRIVATE_NETWORKS=false) refused before it was
 * opened: the host is, or resolves to, an address that is not public. A plain Error told apart by
 * its code, as Node's own are: fetch keeps only errors it recognizes as such (by instanceof in its
 * realm, else by constructor name), and turns the rest into strings.
 */
export interface AddressRefusedError extends Error {
  code: typeof ADDRESS_REFUSED;
  host: string;
  address: string;
  addressClass: Exclude<AddressClass, 'public'>;
}

function addressRefusedError(host: string, address: string, addressClass: AddressRefusedError['addressClass']): AddressRefusedError {
  const message = host === address
    ? `${address} is ${ADDRESS_CLASS_WORDS[addressClass]}${PRIVATE_NETWORK_ADVICE}`
    : `${host} resolves to ${address}, ${ADDRESS_CLASS_WORDS[addressClass]}${PRIVATE_NETWORK_ADVICE}`;
  return Object.assign(new Error(message), { code: ADDRESS_REFUSED, host, address, addressClass } as const);
}

/** The refusal naming the URL that was asked for, by its origin only (a query can hold user ids). */
export function describeRefusal(refusal: AddressRefusedError, url: string): string {
  const verb = refusal.host === refusal.address ? 'points to' : 'resolves to';
  return `platform URL ${new URL(url).origin} ${verb} ${refusal.address}, ${ADDRESS_CLASS_WORDS[refusal.addressClass]}${PRIVATE_NETWORK_ADVICE}`;
}

/** The refusal behind a failed request, if that is why it failed (fetch and got wrap it). */
export function addressRefusal(error: unknown): AddressRefusedError | undefined {
  let e = error;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++, e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === ADDRESS_REFUSED) return e as AddressRefusedError;
  }
  return undefined;
}

/** IP literals are connected to without a lookup, so they are checked here. */
function refusedLiteral(host: string): AddressRefusedError | undefined {
  if (!isIP(host)) return undefined;
  const addressClass = classifyAddress(host);
  return addressClass === 'public' ? undefined : addressRefusedError(host, host, addressClass);
}

/**
 * dns.lookup for the socket itself, failing when any address of the name is not public: the
 * addresses checked are the ones connected to, so DNS rebinding has no gap to use.
 */
export const publicOnlyLookup: LookupFunction = (hostname, options, callback) => {
  dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, '');
    for (const { address } of addresses) {
      const addressClass = classifyAddress(address);
      if (addressClass !== 'public') return callback(addressRefusedError(hostname, address, addressClass), '');
    }
    if (options.all) return callback(null, addresses);
    return callback(null, addresses[0]!.address, addresses[0]!.family);
  });
};

const connectPublicOnly = buildConnector({ lookup: publicOnlyLookup });

/** For fetch: every connection it opens goes to public addresses only. */
const publicOnlyDispatcher = new Agent({
  connect: (options, callback) => {
    const refused = refusedLiteral(options.hostname);
    if (refused) return callback(refused, null);
    return connectPublicOnly(options, callback);
  },
});

/** fetch under the address policy: to public addresses only, unless private networks are allowed. */
export function policyFetch(allowPrivateNetworks: boolean): typeof fetch {
  if (allowPrivateNetworks) return (input, init) => fetch(input, init);
  return (input, init) => fetch(input, { ...init, dispatcher: publicOnlyDispatcher });
}

function publicOnly<A extends http.Agent>(agent: A): A {
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const refused = refusedLiteral(options.host ?? '');
    if (refused) {
      callback?.(refused, undefined as never);
      return undefined;
    }
    return connect({ ...options, lookup: publicOnlyLookup } as http.ClientRequestArgs, callback);
  };
  return agent;
}

/** For clients built on node:http (jose's key set fetch): to public addresses only. */
export const PUBLIC_ONLY_AGENTS = { 'http:': publicOnly(new http.Agent()), 'https:': publicOnly(new https.Agent()) };

let defaultAgentRoutings = 0;
let nodeDefaultAgents: { http: http.Agent; https: https.Agent } | undefined;

/**
 * ltijs checks every launch's id_token again after our launch guard, fetching the platform's key
 * set with its own client (got), which follows redirects, on Node's default agents. Those agents
 * are process-wide, so this routes them through the policy for the process and returns the undo;
 * counted, so that tools sharing a process (tests) put Node's agents back when the last one stops.
 */
export function routeDefaultAgentsThroughPolicy(): () => void {
  if (defaultAgentRoutings++ === 0) {
    nodeDefaultAgents = { http: http.globalAgent, https: https.globalAgent };
    http.globalAgent = PUBLIC_ONLY_AGENTS['http:'];
    https.globalAgent = PUBLIC_ONLY_AGENTS['https:'];
  }
  let undone = false;
  return () => {
    if (undone) return;
    undone = true;
    if (--defaultAgentRoutings === 0 && nodeDefaultAgents) {
      http.globalAgent = nodeDefaultAgents.http;
      https.globalAgent = nodeDefaultAgents.https;
    }
  };
}

const MAX_RESPONSE_BYTES = 512 * 1024;
const TIMEOUT_MS = 10_000;

export function checkOutboundUrl(raw: string): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new OutboundError('invalid_url', `not a URL: ${raw.slice(0, 200)}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundError('invalid_url', `only http(s) URLs are fetched, not ${url.protocol}`);
  if (url.username || url.password) throw new OutboundError('invalid_url', 'URLs with credentials are not fetched');
  return url;
}

/** Fetches a URL and parses the body as JSON whatever its Content-Type (Moodle labels JSON text/html). */
export async function fetchJson(
  raw: string,
  init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; json?: unknown; allowPrivateNetworks: boolean },
): Promise<{ status: number; body: unknown }> {
  const url = checkOutboundUrl(raw);
  let res: Response;
  try {
    res = await policyFetch(init.allowPrivateNetworks)(url, {
      method: init.method ?? 'GET',
      headers: { accept: 'application/json', ...(init.json !== undefined ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body: init.json !== undefined ? JSON.stringify(init.json) : null,
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    const refusal = addressRefusal(err);
    if (refusal) throw new OutboundError('address_refused', describeRefusal(refusal, url.href));
    const name = (err as Error).name;
    if (name === 'TimeoutError' || name === 'AbortError') throw new OutboundError('timeout', `no answer within ${TIMEOUT_MS / 1000} s`);
    const cause = (err as Error & { cause?: { code?: string; message?: string; errors?: Array<{ code?: string }> } }).cause;
    throw new OutboundError('unreachable', cause?.code ?? cause?.errors?.[0]?.code ?? cause?.message ?? (err as Error).message);
  }
  if (res.status >= 300 && res.status < 400) throw new OutboundError('http_status', `redirect to ${res.headers.get('location') ?? '?'} not followed`, res.status);
  let text: string;
  try {
    text = await readBoundedText(res, MAX_RESPONSE_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError) throw new OutboundError('too_large', err.message);
    throw new OutboundError('unreachable', (err as Error).message);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    if (!res.ok) throw new OutboundError('http_status', `HTTP ${res.status}`, res.status, text.slice(0, 500));
    throw new OutboundError('not_json', 'the answer is not JSON');
  }
  if (!res.ok) throw new OutboundError('http_status', `HTTP ${res.status}`, res.status, body);
  return { status: res.status, body };
}
