import { describe, expect, test } from '@jest/globals';
import { parseOutboundAllow } from '../../src/config.js';
import { createOutbound, isOutboundRefusal } from '../../src/oidc/outbound.js';

describe('the outbound allowlist (SSRF protection)', () => {
  test('public addresses are allowed; private, loopback and other special-use ones are not', () => {
    const { allows } = createOutbound(parseOutboundAllow(undefined));
    for (const address of ['8.8.8.8', '103.10.20.30', '2606:4700::1111']) expect(allows('example.id', address)).toBe(true);
    for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      expect({ address, allowed: allows('example.id', address) }).toEqual({ address, allowed: false });
    }
  });

  test('an approved network or host name opens exactly that', () => {
    const { allows } = createOutbound(parseOutboundAllow('10.20.0.0/16,127.0.0.1,perizinan.kedirikota.go.id'));
    expect(allows('any.example', '10.20.5.6')).toBe(true);
    expect(allows('any.example', '10.21.0.1')).toBe(false);
    expect(allows('any.example', '127.0.0.1')).toBe(true);
    expect(allows('any.example', '127.0.0.2')).toBe(false);
    expect(allows('Perizinan.Kedirikota.go.id.', '192.168.7.7')).toBe(true);
    expect(allows('pajak.kedirikota.go.id', '192.168.7.7')).toBe(false);
  });

  test('fetch refuses an address outside the list before connecting, and a name that resolves to one', async () => {
    const outbound = createOutbound(parseOutboundAllow(undefined));
    for (const url of ['http://127.0.0.1:9/x', 'http://[::1]:9/x', 'http://localhost:9/x']) {
      const error = await outbound.fetch(url, { method: 'POST' }).catch((e: unknown) => e);
      expect({ url, refused: isOutboundRefusal(error) }).toEqual({ url, refused: true });
    }
  });
});
