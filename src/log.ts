import pino from 'pino';

const SENSITIVE = ['password', 'nik', 'client_secret', 'authorization', 'cookie'];

/**
 * JSON logs. Request bodies are never logged; as a second line of defence for secrets and NIKs,
 * fields with these names are redacted at the top level and up to three levels deep.
 */
export function createLogger(level: pino.LevelWithSilent) {
  return pino({
    level,
    redact: {
      paths: SENSITIVE.flatMap((name) => [name, `*.${name}`, `*.*.${name}`, `*.*.*.${name}`]),
      censor: '[redacted]',
    },
  });
}

export type { Logger } from 'pino';
