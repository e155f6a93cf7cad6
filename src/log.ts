import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

const SENSITIVE = [
  'password', 'nik', 'client_secret', 'authorization', 'cookie', 'token', 'access_token', 'refresh_token', 'id_token',
  'code_verifier', 'secret', 'otp',
];

/** The request a log line is written under: every line within it carries its id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/**
 * JSON logs, one object a line. Request bodies, URLs with their query strings, headers and
 * cookies are never logged; as a second line of defence for secrets and NIKs, fields with these
 * names are redacted at the top level and up to three levels deep.
 */
export function createLogger(level: pino.LevelWithSilent) {
  return pino({
    level,
    redact: {
      paths: SENSITIVE.flatMap((name) => [name, `*.${name}`, `*.*.${name}`, `*.*.*.${name}`]),
      censor: '[redacted]',
    },
    // A copy: pino merges each line's fields into the object mixin returns.
    mixin: () => ({ ...requestContext.getStore() }),
  });
}

export type { Logger } from 'pino';
