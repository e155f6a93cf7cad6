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
}

/**
 * The message outbox is the source of truth, as the email outbox is: a message is enqueued in the
 * transaction of the change it announces, and src/messaging/sender.ts delivers it.
 */
export function createMessageOutbox(db: Db) {
  return {
    async enqueue(message: PhoneMessage, on: Queryable = db): Promise<void> {
      await on.query(
        'insert into message_outbox (to_phone, channel, kind, body, code, expires_at) values ($1, $2, $3, $4, $5, $6)',
        [message.to, message.channel, message.kind, message.body, message.code ?? null, message.expiresAt ?? null],
      );
    },

    /** Messages created since the start of today (the instance's daily budget counts them). */
    async countToday(on: Queryable = db): Promise<number> {
      const { rows } = await on.query<{ n: number }>("select count(*)::int as n from message_outbox where created_at >= date_trunc('day', now())");
      return rows[0]!.n;
    },
  };
}

export type MessageOutbox = ReturnType<typeof createMessageOutbox>;
