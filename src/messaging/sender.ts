import type { Db } from '../db/db.js';
import type { Logger } from '../log.js';
import { DeliveryFailure, type Gateway } from './gateway.js';
import { maskPhone } from './mask.js';
import type { Channel } from './outbox.js';

const BATCH = 20;
const MAX_ATTEMPTS = 8;
/** A claimed message is not picked again by another process for this long (a send takes 5 s at most). */
const LEASE_SECONDS = 60;

interface Row {
  id: number;
  to_phone: string;
  channel: Channel;
  kind: 'code' | 'notice';
  body: string;
  code: string | null;
  attempts: number;
  refused_channels: Channel[];
}

export type DeliveryResult = 'sent' | 'failed';

export interface MessageSenderOptions {
  /** One per channel offered (src/messaging/gateways.ts: createGateways). */
  gateways: Gateway[];
  /** Told of each attempt's outcome on its channel (the metrics). */
  count?: (channel: Channel, result: DeliveryResult) => void;
}

/** Seconds before the next attempt after attempt n failed: codes 2, 4, 8 ... s; notices 30 s, 1 min, 2 min ... as emails. */
const retryDelay = (kind: Row['kind'], attempt: number) => (kind === 'code' ? 2 ** attempt : 30 * 2 ** (attempt - 1));

/**
 * Delivers due WhatsApp and SMS messages. Each process claims a batch with a lease (skip locked),
 * so several processes never send one message twice. Attempt 1 goes to the channel the citizen
 * chose; after a failure the next attempt goes to the other channel (when it is configured), and so
 * on, alternating; a channel that refused the message for good (a 4xx) is not tried again for it.
 * A code is retried after 2, 4, 8 ... seconds but never sent after it expires (then it is given up
 * as 'expired'); a notice after 30 s, doubling. Both are given up after MAX_ATTEMPTS. Logs name the
 * outbox id, the channel and the masked number, never the code.
 */
export function createMessageSender(db: Db, log: Logger, options: MessageSenderOptions) {
  const gateways = new Map(options.gateways.map((gateway) => [gateway.channel, gateway]));
  const keepsCodes = options.gateways.every((gateway) => gateway.keepsCodes);
  const count = options.count ?? (() => {});

  /** The channel of a row's attempt n: its own first, then alternating among those configured that did not refuse it. */
  function channelOf(row: Pick<Row, 'channel' | 'refused_channels'>, attempt: number): Channel | undefined {
    const other: Channel = row.channel === 'whatsapp' ? 'sms' : 'whatsapp';
    const candidates = [row.channel, other].filter((c) => gateways.has(c) && !row.refused_channels.includes(c));
    return candidates.length === 0 ? undefined : candidates[(attempt - 1) % candidates.length];
  }

  async function failed(row: Row, channel: Channel | undefined, failure: DeliveryFailure): Promise<void> {
    const refused = failure.permanent && channel ? [...row.refused_channels, channel] : row.refused_channels;
    const next = channelOf({ channel: row.channel, refused_channels: refused }, row.attempts + 1);
    const giveUp = next === undefined || row.attempts >= MAX_ATTEMPTS;
    // The channel that asked to wait is waited for; the other one may be tried sooner.
    const delay = Math.max(retryDelay(row.kind, row.attempts), next === channel ? failure.retryAfterSeconds ?? 0 : 0);
    const { rows } = await db.query<{ failed: boolean; last_error: string }>(
      `update message_outbox set
         refused_channels = case when $3::text is null then refused_channels else array_append(refused_channels, $3::text) end,
         send_after = now() + make_interval(secs => $4::int),
         failed_at = case when $5::boolean or expires_at <= now() + make_interval(secs => $4::int) then now() end,
         last_error = case when not $5::boolean and expires_at <= now() + make_interval(secs => $4::int) then 'expired' else $2 end
       where id = $1
       returning failed_at is not null as failed, last_error`,
      [row.id, failure.message.slice(0, 500), failure.permanent && channel ? channel : null, delay, giveUp],
    );
    const fields = { outboxId: row.id, to: maskPhone(row.to_phone), channel, kind: row.kind, attempt: row.attempts, reason: failure.message };
    log.warn({ ...fields, permanent: failure.permanent }, 'phone message delivery failed');
    if (rows[0]?.failed) log.warn({ ...fields, reason: rows[0].last_error }, 'phone message given up');
  }

  async function deliver(row: Row): Promise<void> {
    const channel = channelOf(row, row.attempts);
    const gateway = channel && gateways.get(channel);
    if (!channel || !gateway) return failed(row, undefined, new DeliveryFailure('no configured channel left for this message', true));
    let gatewayId: string | undefined;
    try {
      gatewayId = await gateway.send({ id: row.id, to: row.to_phone, kind: row.kind, body: row.body, code: row.code });
    } catch (error) {
      count(channel, 'failed');
      return failed(row, channel, error instanceof DeliveryFailure ? error : new DeliveryFailure(`unexpected error: ${(error as Error).message}`));
    }
    await db.query('update message_outbox set sent_at = now(), sent_channel = $2, last_error = null where id = $1', [row.id, channel]);
    count(channel, 'sent');
    log.info({ outboxId: row.id, to: maskPhone(row.to_phone), channel, kind: row.kind, attempt: row.attempts, gatewayId }, 'phone message sent');
  }

  /** Sends what is due now; returns how many messages were tried. */
  async function deliverDue(): Promise<number> {
    // A code whose time ran out while it waited is not sent any more (a leased one is being sent).
    const expired = await db.query<{ id: number | string; to_phone: string }>(
      `update message_outbox set failed_at = now(), last_error = 'expired'
       where sent_at is null and failed_at is null and send_after <= now() and expires_at <= now()
       returning id, to_phone`,
    );
    for (const row of expired.rows) log.warn({ outboxId: Number(row.id), to: maskPhone(row.to_phone), reason: 'expired' }, 'phone message given up');
    // id is a bigserial, which pg gives as a string.
    const { rows } = await db.query<Omit<Row, 'id'> & { id: string | number }>(
      `update message_outbox set send_after = now() + make_interval(secs => ${LEASE_SECONDS}), attempts = attempts + 1
       where id in (select id from message_outbox
                    where sent_at is null and failed_at is null and send_after <= now() and (expires_at is null or expires_at > now())
                    order by id limit ${BATCH} for update skip locked)
       returning id, to_phone, channel, kind, body, code, attempts, refused_channels`,
    );
    await Promise.all(rows.map((row) => deliver({ ...row, id: Number(row.id) })));
    // A code sent or given up is of no more use here: only its keyed hash (phone_codes) stays.
    if (!keepsCodes) {
      await db.query(
        `update message_outbox set body = replace(body, code, '******'), code = null
         where id = any($1::bigint[]) and code is not null and (sent_at is not null or failed_at is not null)`,
        [[...expired.rows, ...rows].map((row) => String(row.id))],
      );
    }
    return rows.length;
  }

  let running: Promise<unknown> | undefined;
  let again = false;
  /**
   * A delivery round now, or right after the one under way (rounds of one process never overlap):
   * what the timer calls, and the listener of MESSAGE_ENQUEUED, so that a code goes out at once.
   */
  function kick(): void {
    if (running) {
      again = true;
      return;
    }
    running = deliverDue()
      .catch((err: unknown) => log.warn({ err }, 'phone message delivery round failed'))
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          kick();
        }
      });
  }

  return { deliverDue, kick };
}

export type MessageSender = ReturnType<typeof createMessageSender>;
