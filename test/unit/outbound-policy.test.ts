import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { addressRefusal, describeRefusal, policyFetch, PUBLIC_ONLY_AGENTS, routeDefaultAgentsThroughPolicy } from '../../src/lti/outbound-http.js';

/** The HTTP client ltijs verifies id_tokens with (got), as ltijs itself loads it. */
const ltijsHttp = createRequire(path.resolve('package.json'))('ltijs/dist/Utils/Http') as { get(url: string): { json(): Promise<unknown> } };

describe('connections to platform URLs under OUTBOUND_ALLOW_PRIVATE_NETWORKS=false', () => {
  let server: http.Server;
  let port: number;
  let received: number;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      received += 1;
      res.setHeader('content-type', 'application/json');
      res.end('{"keys":[]}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    received = 0;
  });

  const refusalOf = async (request: Promise<unknown>): Promise<ReturnType<typeof addressRefusal>> => {
    try {
      await request;
    } catch (error) {
      return addressRefusal(error);
    }
    throw new Error('the request was not refused');
  };

  test.each([
    ['a loopback IP literal', () => `http://127.0.0.1:${port}/jwks`, '127.0.0.1', 'loopback'],
    ['localhost', () => `http://localhost:${port}/jwks`, '127.0.0.1', 'loopback'],
    ['an IPv6 loopback literal', () => `http://[::1]:${port}/jwks`, '::1', 'loopback'],
    ['loopback written as one number', () => `http://2130706433:${port}/jwks`, '127.0.0.1', 'loopback'],
    ['loopback written in hex, shortened', () => `http://0x7f.1:${port}/jwks`, '127.0.0.1', 'loopback'],
    ['loopback mapped into IPv6', () => `http://[::ffff:127.0.0.1]:${port}/jwks`, '::ffff:7f00:1', 'loopback'],
    ['https to localhost', () => `https://localhost:${port}/jwks`, '127.0.0.1', 'loopback'],
  ])('fetch refuses %s before connecting', async (_name, url, address, addressClass) => {
    const refusal = await refusalOf(policyFetch(false)(url()));
    expect(refusal).toMatchObject({ address, addressClass });
    expect(describeRefusal(refusal!, url())).toMatch(new RegExp(`^platform URL https?://\\S+ (points|resolves) to ${address.replace(/\./g, '\\.')}, a loopback address; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network$`));
    expect(received).toBe(0);
  });

  test('the refusal names the URL by its origin only', async () => {
    const url = `http://localhost:${port}/lineitems?user_id=learner-7`;
    const refusal = await refusalOf(policyFetch(false)(url));
    expect(describeRefusal(refusal!, url)).toBe(`platform URL http://localhost:${port} resolves to 127.0.0.1, a loopback address; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network`);
  });

  test('with private networks allowed, the same fetch reaches the server', async () => {
    expect(await (await policyFetch(true)(`http://localhost:${port}/jwks`)).json()).toEqual({ keys: [] });
    expect(received).toBe(1);
  });

  test('a name is resolved once, by the connection itself, so there is no second answer to rebind', async () => {
    const lookup = dns.lookup;
    const asked: string[] = [];
    // A name only this test knows, whose DNS answers loopback.
    const fake = ((hostname: string, _options: unknown, callback: (error: null, addresses: dns.LookupAddress[]) => void) => {
      asked.push(hostname);
      callback(null, [{ address: '127.0.0.1', family: 4 }]);
    }) as unknown as typeof dns.lookup;
    dns.lookup = fake;
    try {
      const refusal = await refusalOf(policyFetch(false)(`http://lms.rebinding.test:${port}/jwks`));
      expect(refusal).toMatchObject({ host: 'lms.rebinding.test', address: '127.0.0.1', addressClass: 'loopback' });
      expect(asked).toEqual(['lms.rebinding.test']);
    } finally {
      dns.lookup = lookup;
    }
    expect(received).toBe(0);
  });

  const get = (url: string, agent: http.Agent) => new Promise<number>((resolve, reject) => {
    http.get(url, { agent }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject);
  });

  test.each([
    ['an IP literal', () => `http://127.0.0.1:${port}/jwks`, '127.0.0.1 is a loopback address'],
    ['a name', () => `http://localhost:${port}/jwks`, 'localhost resolves to 127.0.0.1, a loopback address'],
  ])('the node:http agent (jose fetches key sets with it) refuses %s', async (_name, url, message) => {
    const refusal = await refusalOf(get(url(), PUBLIC_ONLY_AGENTS['http:']));
    expect(refusal!.message).toBe(`${message}; set OUTBOUND_ALLOW_PRIVATE_NETWORKS=true if the LMS is on your private network`);
    expect(received).toBe(0);
  });

  test('routed default agents stop ltijs\'s own key set fetch, until the last tool using them is gone', async () => {
    const node = { http: http.globalAgent, https: https.globalAgent };
    const first = routeDefaultAgentsThroughPolicy();
    const second = routeDefaultAgentsThroughPolicy();
    expect(http.globalAgent).toBe(PUBLIC_ONLY_AGENTS['http:']);
    expect(https.globalAgent).toBe(PUBLIC_ONLY_AGENTS['https:']);
    await expect(ltijsHttp.get(`http://127.0.0.1:${port}/jwks`).json()).rejects.toThrow('127.0.0.1 is a loopback address');
    await expect(ltijsHttp.get(`http://localhost:${port}/jwks`).json()).rejects.toThrow('localhost resolves to 127.0.0.1, a loopback address');
    expect(received).toBe(0);
    first();
    first();
    expect(http.globalAgent).toBe(PUBLIC_ONLY_AGENTS['http:']);
    second();
    expect(http.globalAgent).toBe(node.http);
    expect(https.globalAgent).toBe(node.https);
    expect(await ltijsHttp.get(`http://127.0.0.1:${port}/jwks`).json()).toEqual({ keys: [] });
    expect(received).toBe(1);
  });
});
