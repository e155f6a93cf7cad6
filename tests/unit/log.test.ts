import { describe, expect, test } from '@jest/globals';
import pino from 'pino';
import { redacted } from '../../src/log.js';

describe('log redaction by field name', () => {
  test('secrets are replaced at the top level and three levels below it, arrays included', () => {
    const line = {
      password: 'p4ssw0rd', route: '/token',
      details: { nik: '3571014101900001', client: { client_secret: 'cs', grant: { refresh_token: 'rt', kept: 1 } } },
      attempts: [{ token: 't1' }, { otp: '123456', ok: true }],
    };
    expect(redacted(line)).toEqual({
      password: '[redacted]', route: '/token',
      details: { nik: '[redacted]', client: { client_secret: '[redacted]', grant: { refresh_token: '[redacted]', kept: 1 } } },
      attempts: [{ token: '[redacted]' }, { otp: '[redacted]', ok: true }],
    });
  });

  test('the logged object is left as it was, and copied only where a field is replaced', () => {
    const untouched = { method: 'GET', status: 200 };
    const line = { request: untouched, headers: { authorization: 'Bearer abc' } };
    const result = redacted(line) as typeof line;
    expect(line.headers.authorization).toBe('Bearer abc');
    expect(result.request).toBe(untouched);
    expect(redacted(untouched)).toBe(untouched);
  });

  test('an error keeps its class, message and stack as pino writes them, with its secrets replaced', () => {
    class GatewayError extends Error {
      secret = 'gateway-key';
      status = 502;
    }
    const error = new GatewayError('gateway refused');
    const written = pino.stdSerializers.err((redacted({ err: error }) as { err: Error }).err);
    expect(written).toMatchObject({ type: 'GatewayError', message: 'gateway refused', stack: error.stack, status: 502, secret: '[redacted]' });
    expect(error.secret).toBe('gateway-key');
  });
});
