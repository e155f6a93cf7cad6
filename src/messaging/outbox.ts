import type { Db, Queryable } from '../db/db.js';

/** The two ways a message reaches a phone; the citizen picks one, the other is the fallback. */
export const CHANNELS = ['whatsapp', 'sms'] as const;
export type Channel = (typeof CHANNELS)[number];
export const isChannel = (value: unknown): value is Channel => value === 'whatsapp' || value === 'sms';

/** A message to a phone: a one-time code (WhatsApp sends it in an authentication template), or a notice. */
export interface PhoneMessage {
  /** E.164 (src/identity/phone.ts). */
  to: string;
  /** Tried first; the other channel when it fails. */
  channel: Channel;
  kind: 'code' | 'notice';
  /** The whole text, as an SMS carries it. */
  body: string;
  /** For kind 'code': the code alone (the WhatsApp template's parameter). */
  code?: string;
  /** For kind 'code': not sent after this. */
  expiresAt?: Date;
  /** For kind 'code': the phone code it carries (src/identity/phone-codes.ts). */
  codeId?: string;
  /** For kind 'notice': what it tells (each kind has its own daily limit per number). */
  noticeKind?: string;
}

/** A row of the outbox as the /dev/pesan page of a local trial shows it. */
export interface MessageOutboxEntry {
  id: number;
  to: string;
  channel: Channel;
  kind: 'code' | 'notice';
  body: string;
  code: string | null;
  created_at: Date;
  attempts: number;
  sent_at: Date | null;
  sent_channel: Channel | null;
  failed_at: Date | null;
  last_error: string | null;
}

/** Announced (NOTIFY) when a message is enqueued, at the commit of its transaction: the senders deliver it at once. */
export const MESSAGE_ENQUEUED = 'message_enqueued';

/** Sent and given-up messages are kept this long (a code must not outlive its use). */
const KEEP_DAYS = 1;

/**
 * The message outbox is the source of truth, as the email outbox is: a message is enqueued in the
 * transaction of the change it announces, and src/messaging/sender.ts delivers it.
 */
export function createMessageOutbox(db: Db) {
  return {
    async enqueue(message: PhoneMessage, on: Queryable = db): Promise<void> {
      await on.query(
        `with added as (
           insert into message_outbox (to_phone, channel, kind, body, code, expires_at, phone_code_id, notice_kind)
           values ($1, $2, $3, $4, $5, $6, $7, $8) returning id)
         select pg_notify('${MESSAGE_ENQUEUED}', '') from added`,
        [message.to, message.channel, message.kind, message.body, message.code ?? null, message.expiresAt ?? null, message.codeId ?? null, message.noticeKind ?? null],
      );
    },

    /** The channel that delivered the message of this phone code, if it went out. */
    async sentChannel(codeId: string, on: Queryable = db): Promise<Channel | undefined> {
      const { rows } = await on.query<{ sent_channel: Channel | null }>('select sent_channel from message_outbox where phone_code_id = $1', [codeId]);
      return rows[0]?.sent_channel ?? undefined;
    },

    /** The newest messages, for the /dev/pesan page of a local trial. */
    async newest(limit = 50): Promise<MessageOutboxEntry[]> {
      const { rows } = await db.query<Omit<MessageOutboxEntry, 'id'> & { id: string | number }>(
        `select id, to_phone as "to", channel, kind, body, code, created_at, attempts, sent_at, sent_channel, failed_at, last_error
         from message_outbox order by id desc limit $1`,
        [limit],
      );
      // A bigserial, which pg gives as a string.
      return rows.map((row) => ({ ...row, id: Number(row.id) }));
    },

    /** Deletes at most `limit` messages sent or given up more than a day ago; returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        `delete from message_outbox where ctid = any(array(
           select ctid from message_outbox
           where sent_at < now() - make_interval(days => ${KEEP_DAYS}) or failed_at < now() - make_interval(days => ${KEEP_DAYS}) limit $1))`,
        [limit],
      );
      return rowCount;
    },

    /** Codes sent since the start of today (the instance's daily budget counts them; notices have a limit per number). */
    async codesToday(on: Queryable = db): Promise<number> {
      const { rows } = await on.query<{ n: number }>(
        "select count(*)::int as n from message_outbox where kind = 'code' and created_at >= date_trunc('day', now())",
      );
      return rows[0]!.n;
    },

    /** Notices of this kind to this number in the last day. */
    async noticesTo(phone: string, noticeKind: string, on: Queryable = db): Promise<number> {
      const { rows } = await on.query<{ n: number }>(
        `select count(*)::int as n from message_outbox
         where to_phone = $1 and kind = 'notice' and notice_kind = $2 and created_at > now() - interval '1 day'`,
        [phone, noticeKind],
      );
      return rows[0]!.n;
    },
  };
}

export type MessageOutbox = ReturnType<typeof createMessageOutbox>;
