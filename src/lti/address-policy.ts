import { isIPv4, isIPv6 } from 'node:net';

/**
 * Which IP addresses the tool may connect to when it follows a URL a platform gave it. Public
 * means globally reachable unicast; everything else (IANA's special-purpose registries) could be
 * the tool's own host, its network or its cloud's metadata service. IPv6 forms that carry an IPv4
 * address (mapped, NAT64, 6to4) are judged by that address, since that is where they lead.
 */
export type AddressClass =
  | 'public'
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'shared'
  | 'multicast'
  | 'broadcast'
  | 'benchmarking'
  | 'documentation'
  | 'reserved';

/** Each class in words, as the refusal message says it. */
export const ADDRESS_CLASS_WORDS: Record<Exclude<AddressClass, 'public'>, string> = {
  unspecified: 'an unspecified address',
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address (this includes cloud metadata services)',
  shared: 'a carrier-grade NAT address',
  multicast: 'a multicast address',
  broadcast: 'the broadcast address',
  benchmarking: 'a benchmarking address',
  documentation: 'a documentation address',
  reserved: 'a reserved address',
};

interface Range {
  bytes: Uint8Array;
  prefix: number;
  addressClass: Exclude<AddressClass, 'public'>;
}

function range(cidr: string, addressClass: Range['addressClass']): Range {
  const [address, prefix] = cidr.split('/') as [string, string];
  return { bytes: parseAddress(address)!, prefix: Number(prefix), addressClass };
}

/** More specific ranges first: the first match decides. */
const IPV4_RANGES: Range[] = [
  range('255.255.255.255/32', 'broadcast'),
  range('0.0.0.0/8', 'unspecified'),
  range('10.0.0.0/8', 'private'),
  range('100.64.0.0/10', 'shared'),
  range('127.0.0.0/8', 'loopback'),
  range('169.254.0.0/16', 'link-local'),
  range('172.16.0.0/12', 'private'),
  range('192.0.0.0/24', 'reserved'),
  range('192.0.2.0/24', 'documentation'),
  range('192.88.99.0/24', 'reserved'),
  range('192.168.0.0/16', 'private'),
  range('198.18.0.0/15', 'benchmarking'),
  range('198.51.100.0/24', 'documentation'),
  range('203.0.113.0/24', 'documentation'),
  range('224.0.0.0/4', 'multicast'),
  range('240.0.0.0/4', 'reserved'),
];

/** Outside 2000::/3 (global unicast) every IPv6 address is refused; these are the exceptions inside it. */
const IPV6_RANGES: Range[] = [
  range('2001:db8::/32', 'documentation'),
  range('3fff::/20', 'documentation'),
  range('2001:2::/48', 'benchmarking'),
  // IETF protocol assignments: Teredo, ORCHID and the like, not a host an LMS lives on.
  range('2001::/23', 'reserved'),
];

const IPV6_OUTSIDE_GLOBAL: Range[] = [
  range('::/128', 'unspecified'),
  range('::1/128', 'loopback'),
  range('fe80::/10', 'link-local'),
  range('fc00::/7', 'private'),
  range('ff00::/8', 'multicast'),
];

function inRange(bytes: Uint8Array, r: Range): boolean {
  if (bytes.length !== r.bytes.length) return false;
  const whole = r.prefix >> 3;
  for (let i = 0; i < whole; i++) if (bytes[i] !== r.bytes[i]) return false;
  const rest = r.prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (bytes[whole]! & mask) === (r.bytes[whole]! & mask);
}

function startsWith(bytes: Uint8Array, head: number[]): boolean {
  return head.every((b, i) => bytes[i] === b);
}

/** 4 bytes for IPv4, 16 for IPv6 (a `%zone` suffix ignored); undefined for anything else. */
function parseAddress(ip: string): Uint8Array | undefined {
  if (isIPv4(ip)) return Uint8Array.from(ip.split('.').map(Number));
  const address = ip.replace(/%.*$/, '');
  if (!isIPv6(address)) return undefined;
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number];
    text = text.slice(0, dotted.index) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups = tail === undefined ? headGroups : [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[2 * i] = value >> 8;
    bytes[2 * i + 1] = value & 0xff;
  });
  return bytes;
}

function classifyIPv4(bytes: Uint8Array): AddressClass {
  return IPV4_RANGES.find((r) => inRange(bytes, r))?.addressClass ?? 'public';
}

function classifyIPv6(bytes: Uint8Array): AddressClass {
  // ::ffff:a.b.c.d (mapped) and 64:ff9b::a.b.c.d (NAT64): the last four bytes are the IPv4 destination.
  if (startsWith(bytes, [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]) || startsWith(bytes, [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0])) {
    return classifyIPv4(bytes.subarray(12));
  }
  // 2002:AABB:CCDD::/48 (6to4) tunnels to the IPv4 address AA.BB.CC.DD.
  if (startsWith(bytes, [0x20, 0x02])) return classifyIPv4(bytes.subarray(2, 6));
  if ((bytes[0]! & 0xe0) !== 0x20) return IPV6_OUTSIDE_GLOBAL.find((r) => inRange(bytes, r))?.addressClass ?? 'reserved';
  return IPV6_RANGES.find((r) => inRange(bytes, r))?.addressClass ?? 'public';
}

/** The class of an IPv4 or IPv6 address in text form; a string that is not an address is 'reserved'. */
export function classifyAddress(ip: string): AddressClass {
  const bytes = parseAddress(ip);
  if (!bytes) return 'reserved';
  return bytes.length === 4 ? classifyIPv4(bytes) : classifyIPv6(bytes);
}

export function isPublicAddress(ip: string): boolean {
  return classifyAddress(ip) === 'public';
}
