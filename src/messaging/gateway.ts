import type { Channel } from './outbox.js';

/** One message as a gateway sends it: a row of message_outbox. */
export interface OutgoingMessage {
  /** The outbox id (the SMS gateway's reference). */
  id: number;
  /** E.164 (+628...). */
  to: string;
  kind: 'code' | 'notice';
  body: string;
  /** For a code: the code alone. */
  code: string | null;
}

/** What carries messages on one channel. */
export interface Gateway {
  readonly channel: Channel;
  /**
   * Whether the outbox keeps a code once it is sent or given up: only the log of a local trial
   * does (for /dev/pesan). Otherwise the keyed hash in phone_codes is all that is kept.
   */
  readonly keepsCodes: boolean;
  /** Resolves when the gateway accepted the message (with its own id for it, if it gives one); throws DeliveryFailure. */
  send(message: OutgoingMessage): Promise<string | undefined>;
}

/**
 * A delivery that did not happen. The reason goes to the log and to message_outbox.last_error: it
 * names a status, an error code or a timeout, never the number, the code or a credential.
 */
export class DeliveryFailure extends Error {
  constructor(
    reason: string,
    /** This channel will not take this message (a 4xx other than 429): do not try it there again. */
    readonly permanent = false,
    /** The gateway asked to wait this long before the next request (429 with Retry-After). */
    readonly retryAfterSeconds?: number,
  ) {
    super(reason);
  }
}

export interface GatewayOptions {
  /** The whole exchange, answer included; default 5000. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 5000;
/** A Retry-After beyond this is read as this: a code would be long expired anyway. */
const MAX_RETRY_AFTER_SECONDS = 3600;

/** Retry-After as seconds from now: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = /^\d+$/.test(header.trim()) ? Number(header.trim()) : (Date.parse(header) - now) / 1000;
  return Number.isFinite(seconds) ? Math.min(MAX_RETRY_AFTER_SECONDS, Math.max(0, Math.ceil(seconds))) : undefined;
}

/**
 * POSTs JSON with a bearer token and returns the parsed JSON answer of a 2xx (undefined when the
 * body is not JSON). Anything else throws DeliveryFailure: a timeout, a network error, a redirect,
 * 429 (with its Retry-After) and 5xx to be retried; another 4xx permanent. `detail` may add to the
 * reason what the error body says, as long as that is no personal data (an error number).
 */
export async function postJson(
  url: string,
  token: string,
  payload: unknown,
  options: GatewayOptions & { detail?: (body: unknown) => string | undefined } = {},
): Promise<unknown> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let response: Response;
  let body: unknown;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify(payload),
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') throw new DeliveryFailure(`timeout: no answer within ${timeoutMs} ms`);
    const cause = (error as { cause?: { code?: unknown } }).cause;
    throw new DeliveryFailure(`network error: ${typeof cause?.code === 'string' ? cause.code : (error as Error).message}`);
  }
  if (response.ok) return body;
  const detail = options.detail?.(body);
  const reason = `HTTP ${response.status}${detail ? ` ${detail}` : ''}`;
  if (response.status === 429) throw new DeliveryFailure(reason, false, retryAfterSeconds(response.headers.get('retry-after')));
  throw new DeliveryFailure(reason, response.status >= 400 && response.status < 500);
}
