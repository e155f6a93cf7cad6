import { describe, expect, test } from '@jest/globals';
import { describeAddress, describeUserAgent } from '../../src/web/account/devices.js';

const AGENTS: Array<[string, string | undefined, string | undefined]> = [
  ['Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'Chrome', 'Android'],
  ['Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36', 'Samsung Internet', 'Android'],
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari', 'iOS'],
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1', 'Chrome', 'iOS'],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0', 'Edge', 'Windows'],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 OPR/115.0.0.0', 'Opera', 'Windows'],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari', 'macOS'],
  ['Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0', 'Firefox', 'Linux'],
  ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36', 'Chrome', 'Linux'],
  ['curl/8.5.0', undefined, undefined],
];

describe('the device of a sign-in session', () => {
  test.each(AGENTS)('%s', (userAgent, browser, os) => {
    expect(describeUserAgent(userAgent)).toEqual({ browser, os });
  });

  test('no user agent says nothing', () => {
    expect(describeUserAgent(null)).toEqual({});
    expect(describeUserAgent('')).toEqual({});
  });
});

describe('the place of a sign-in', () => {
  test('loopback, private and link-local addresses are the local network', () => {
    for (const ip of ['127.0.0.1', '::1', '::ffff:127.0.0.1', '10.1.2.3', '172.16.0.9', '172.31.255.1', '192.168.1.20', '169.254.1.1', 'fd12:3456::1', 'fe80::1']) {
      expect([ip, describeAddress(ip)]).toEqual([ip, { local: true }]);
    }
  });

  test('any other address is shown with its last part hidden, never looked up', () => {
    expect(describeAddress('203.0.113.45')).toEqual({ local: false, address: '203.0.113.x' });
    expect(describeAddress('::ffff:36.72.10.200')).toEqual({ local: false, address: '36.72.10.x' });
    expect(describeAddress('172.32.0.1')).toEqual({ local: false, address: '172.32.0.x' });
    expect(describeAddress('2001:db8:85a3:8d3:1319:8a2e:370:7348')).toEqual({ local: false, address: '2001:db8:85a3:…' });
    expect(describeAddress('2001:db8::7348')).toEqual({ local: false, address: '2001:db8:…' });
  });

  test('no address, or something that is not one, has no place', () => {
    expect(describeAddress(null)).toBeUndefined();
    expect(describeAddress('unknown')).toBeUndefined();
  });
});
