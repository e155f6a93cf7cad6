import { BlockList, isIPv4, isIPv6 } from 'node:net';

/** A browser and its system as a citizen knows them ("Chrome", "Android"); undefined when not recognised. */
export interface Device {
  browser?: string;
  os?: string;
}

/**
 * The common browsers, the more specific first: Samsung Internet, Opera and Edge say "Chrome" in
 * their user agents too, and Chrome says "Safari".
 */
const BROWSERS: Array<[string, RegExp]> = [
  ['Samsung Internet', /SamsungBrowser\//],
  ['Opera', /OPR\/|OPX\/|Opera/],
  ['Edge', /Edg(e|A|iOS)?\//],
  ['Firefox', /Firefox\/|FxiOS\//],
  ['Chrome', /Chrome\/|CriOS\//],
  ['Safari', /Version\/[\d.]+.*Safari\//],
];

/** The systems, Android and iOS before the desktops whose names their user agents also carry. */
const SYSTEMS: Array<[string, RegExp]> = [
  ['Android', /Android/],
  ['iOS', /iPhone|iPad|iPod/],
  ['Windows', /Windows/],
  ['macOS', /Macintosh|Mac OS X/],
  ['Linux', /Linux|X11/],
];

/** Which browser on which system a user agent string names, as far as a handful of patterns tell. */
export function describeUserAgent(userAgent: string | null): Device {
  if (!userAgent) return {};
  return {
    browser: BROWSERS.find(([, pattern]) => pattern.test(userAgent))?.[0],
    os: SYSTEMS.find(([, pattern]) => pattern.test(userAgent))?.[0],
  };
}

/** Loopback, private and link-local addresses: the city's own network, or this machine. */
const LOCAL = new BlockList();
for (const [network, prefix] of [['127.0.0.0', 8], ['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16], ['169.254.0.0', 16]] as const) {
  LOCAL.addSubnet(network, prefix, 'ipv4');
}
for (const [network, prefix] of [['::1', 128], ['fc00::', 7], ['fe80::', 10]] as const) LOCAL.addSubnet(network, prefix, 'ipv6');

/** Where a sign-in came from: the local network, or an address with its last part hidden. */
export type Place = { local: true } | { local: false; address: string };

/**
 * Where a sign-in came from, as far as can be said without asking any outside service: the local
 * network, or the address with its last part hidden (203.0.113.x; an IPv6 address by its first
 * three groups). Undefined when there is no address or it is not one.
 */
export function describeAddress(ip: string | null): Place | undefined {
  if (!ip) return undefined;
  // An IPv4 address as an IPv6 socket reports it.
  const address = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)?.[1] ?? ip;
  if (isIPv4(address)) {
    return LOCAL.check(address, 'ipv4') ? { local: true } : { local: false, address: address.replace(/\.\d+$/, '.x') };
  }
  if (isIPv6(address)) {
    if (LOCAL.check(address, 'ipv6')) return { local: true };
    const groups = address.split('::')[0]!.split(':').slice(0, 3);
    return { local: false, address: `${groups.join(':')}:…` };
  }
  return undefined;
}
