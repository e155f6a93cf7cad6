import { describe, expect, test } from '@jest/globals';
import { ipKey } from '../../src/identity/throttle.js';

describe('ipKey: the address a per-address limit counts under', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7'],
    // IPv4-mapped IPv6, as a dual-stack socket reports an IPv4 client, in each way of writing it.
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:203.0.113.7', '203.0.113.7'],
    ['0:0:0:0:0:ffff:cb00:7107', '203.0.113.7'],
    ['::ffff:cb00:7107', '203.0.113.7'],
  ])('IPv4 %s counts as %s', (ip, key) => {
    expect(ipKey(ip)).toBe(key);
  });

  test.each([
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0DB8:0000:0000:ffff:ffff:ffff:ffff', '2001:db8:0:0::/64'],
    ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
    ['2001:db8:aa:bb::', '2001:db8:aa:bb::/64'],
    ['2001:db8:aa:bb:1:2:3:4', '2001:db8:aa:bb::/64'],
    ['2001:db8:aa::bb:1:2:3', '2001:db8:aa:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['::', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    // A dotted tail that is not IPv4-mapped stays IPv6.
    ['64:ff9b::203.0.113.7', '64:ff9b:0:0::/64'],
    ['::203.0.113.7', '0:0:0:0::/64'],
  ])('IPv6 %s counts as its /64, %s', (ip, key) => {
    expect(ipKey(ip)).toBe(key);
  });

  test('addresses of one /64 share a key, a neighbouring /64 does not', () => {
    expect(ipKey('2001:db8:1:2::1')).toBe(ipKey('2001:db8:1:2:dead:beef:0:7'));
    expect(ipKey('2001:db8:1:2::1')).not.toBe(ipKey('2001:db8:1:3::1'));
    expect(ipKey('::ffff:10.0.0.1')).not.toBe(ipKey('::ffff:10.0.0.2'));
  });

  test('a value that is no address counts as it is, cut to a bounded length', () => {
    expect(ipKey('unknown')).toBe('unknown');
    expect(ipKey('x'.repeat(1000))).toHaveLength(64);
  });
});
