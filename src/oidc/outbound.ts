import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP } from 'node:net';
import { Readable } from 'node:stream';
import type { OutboundAllow } from '../config.js';

/** The error of a request that the allowlist does not allow (made before any connection). */
export class OutboundRefused extends Error {}

/** Addresses that are not globally reachable (IANA special-purpose registries, as oidc-provider's own list). */
const SPECIAL_USE: Array<[string, number, 'ipv4' | 'ipv6']> = [
  ['0.0.0.0', 8, 'ipv4'], ['10.0.0.0', 8, 'ipv4'], ['100.64.0.0', 10, 'ipv4'], ['127.0.0.0', 8, 'ipv4'],
  ['169.254.0.0', 16, 'ipv4'], ['172.16.0.0', 12, 'ipv4'], ['192.0.0.0', 24, 'ipv4'], ['192.0.2.0', 24, 'ipv4'],
  ['192.31.196.0', 24, 'ipv4'], ['192.52.193.0', 24, 'ipv4'], ['192.88.99.0', 24, 'ipv4'], ['192.168.0.0', 16, 'ipv4'],
  ['192.175.48.0', 24, 'ipv4'], ['198.18.0.0', 15, 'ipv4'], ['198.51.100.0', 24, 'ipv4'], ['203.0.113.0', 24, 'ipv4'],
  ['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'],
  ['::', 128, 'ipv6'], ['::1', 128, 'ipv6'], ['64:ff9b::', 96, 'ipv6'], ['64:ff9b:1::', 48, 'ipv6'], ['100::', 64, 'ipv6'],
  ['2001::', 23, 'ipv6'], ['2001:db8::', 32, 'ipv6'], ['2002::', 16, 'ipv6'], ['2620:4f:8000::', 48, 'ipv6'],
  ['3fff::', 20, 'ipv6'], ['5f00::', 16, 'ipv6'], ['fc00::', 7, 'ipv6'], ['fe80::', 10, 'ipv6'], ['ff00::', 8, 'ipv6'],
];

const family = (address: string) => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

type LookupCallback = (error: Error | null, address: string | LookupAddress[], family?: number) => void;

/** Statuses whose responses have no body (the Response constructor refuses one). */
const NULL_BODY_STATUS = new Set([204, 205, 304]);

/**
 * The provider's outgoing requests (back-channel logout, a client's jwks_uri) go where a client's
 * metadata says, but never to the city's private network or this machine unless OUTBOUND_ALLOW
 * (config.ts) approves the host or network. Public addresses are allowed.
 */
export function createOutbound(allow: OutboundAllow) {
  const hosts = new Set(allow.hosts);
  const approved = new BlockList();
  for (const network of allow.networks) {
    const [address, prefix] = network.split('/') as [string, string];
    approved.addSubnet(address, Number(prefix), family(address));
  }
  const specialUse = new BlockList();
  for (const [address, prefix, type] of SPECIAL_USE) specialUse.addSubnet(address, prefix, type);

  /** Whether a connection to this address, found for this host name, may be made. */
  function allows(hostname: string, address: string): boolean {
    if (hosts.has(hostname.toLowerCase().replace(/\.$/, ''))) return true;
    const type = family(address);
    return approved.check(address, type) || !specialUse.check(address, type);
  }

  /**
   * Resolves as dns.lookup does, keeping only the addresses allowed: the check is on the address
   * the connection is made to, so a name that resolves differently later (DNS rebinding) gains nothing.
   */
  function lookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const allowed = addresses.filter((a) => allows(hostname, a.address));
      if (allowed.length === 0) return callback(new OutboundRefused(`${hostname} resolves to an address outside OUTBOUND_ALLOW`), []);
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0]!.address, allowed[0]!.family);
    });
  }

  /**
   * fetch() through the allowlist, for oidc-provider's `fetch` option (and so for the logout
   * sender): a Request in, a Response out, redirects never followed. Made on node:http(s), which
   * takes the `lookup` above; Node's own fetch would take it only through undici's Agent, which
   * Node does not export.
   */
  async function outboundFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(input, init);
    const url = new URL(request.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OutboundRefused(`${url.protocol} is not http(s)`);
    // An address in the URL is connected to without a lookup: check it here.
    const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (isIP(literal) && !allows(literal, literal)) throw new OutboundRefused(`${url.host} is outside OUTBOUND_ALLOW`);
    const body = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    return new Promise((resolve, reject) => {
      const options = { method: request.method, headers: Object.fromEntries(request.headers), lookup, signal: request.signal, agent: false as const };
      const outgoing = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, (res) => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) headers.append(name, v);
        const status = res.statusCode!;
        const bodyless = NULL_BODY_STATUS.has(status) || request.method === 'HEAD';
        if (bodyless) res.resume();
        resolve(new Response(bodyless ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage, headers }));
      });
      outgoing.on('error', reject);
      outgoing.end(body);
    });
  }

  return { allows, fetch: outboundFetch };
}

export type Outbound = ReturnType<typeof createOutbound>;

/** Whether an error is (or was caused by) a refusal of the allowlist. */
export function isOutboundRefusal(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof OutboundRefused) return true;
  return false;
}
