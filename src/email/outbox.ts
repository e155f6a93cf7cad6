import type { Db, Queryable } from '../db/db.js';

export interface Email {
  /** Null for an account without an email: nothing is sent (its phone gets the security notices). */
  to: string | null;
  subject: string;
  body: string;
}

export interface OutboxEntry extends Email {
  to: string;
  id: number;
  created_at: Date;
  sent_at: Date | null;
  attempts: number;
}

/** Days an email is kept after it was sent or given up (its links expired long before; its text names the citizen). */
const KEEP_DAYS = 7;

/** The outbox is the source of truth: a message is enqueued in the transaction of the change it announces. */
export function createOutbox(db: Db) {
  return {
    async enqueue(email: Email, on: Queryable = db): Promise<void> {
      if (email.to === null) return;
      await on.query('insert into outbox (to_address, subject, body) values ($1, $2, $3)', [email.to, email.subject, email.body]);
    },

    /** Deletes at most `limit` emails sent or given up KEEP_DAYS ago; returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        `delete from outbox where ctid = any(array(
           select ctid from outbox where coalesce(sent_at, failed_at) < now() - make_interval(days => ${KEEP_DAYS}) limit $1))`,
        [limit],
      );
      return rowCount;
    },

    /** The newest messages, for the /dev/mail page of a local trial. */
    async newest(limit = 50): Promise<OutboxEntry[]> {
      const { rows } = await db.query<OutboxEntry>(
        `select id, to_address as "to", subject, body, created_at, sent_at, attempts
         from outbox order by id desc limit $1`,
        [limit],
      );
      return rows;
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
