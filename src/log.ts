import pino from 'pino';

/**
 * JSON logs. Request bodies are never logged; these paths are redacted wherever they appear in
 * a logged object, as a second line of defence for secrets and NIKs.
 */
export function createLogger(level: pino.LevelWithSilent) {
  return pino({
    level,
    redact: {
      paths: ['*.password', '*.nik', '*.client_secret', '*.authorization', '*.cookie', 'headers.authorization', 'headers.cookie'],
      censor: '[redacted]',
    },
  });
}

export type { Logger } from 'pino';
