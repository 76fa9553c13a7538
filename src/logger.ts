import { pino, type Logger } from 'pino';

/** Keys whose values are secrets wherever they appear in a log record. */
export const REDACTED_KEYS = [
  'id_token', 'ltik', 'token', 'access_token', 'client_assertion', 'registration_token',
  'authorization', 'cookie', 'set-cookie', 'password', 'privateKey', 'key',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'microcred-lti' },
      redact: {
        paths: [...REDACTED_KEYS, ...REDACTED_KEYS.map((k) => `*.${k}`), ...REDACTED_KEYS.map((k) => `*.*.${k}`)],
        censor: '[redacted]',
      },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination as pino.DestinationStream | undefined,
  );
}
