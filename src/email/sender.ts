import type { Transporter } from 'nodemailer';
import type { Db } from '../db/db.js';
import type { Logger } from '../log.js';

const BATCH = 20;
const MAX_ATTEMPTS = 8;
/** A claimed message is not picked again by another process for this long. */
const LEASE_SECONDS = 300;

type Deliver = (message: { to: string; subject: string; body: string }) => Promise<void>;

/** a***@example.id: enough to tell messages apart in a log, not to collect addresses. */
export function maskEmail(address: string): string {
  const [local = '', domain = ''] = address.split('@');
  return `${local.slice(0, 1)}***@${domain}`;
}

/**
 * Delivers due outbox messages: through SMTP when SMTP_URL is set, else into the log (allowed
 * outside production only, so the message body with its link may be shown there). Each process
 * claims a batch with a lease (skip locked), so several processes never send one message twice;
 * a failure is retried with growing delays, and given up after MAX_ATTEMPTS.
 */
export function createSender(db: Db, log: Logger, options: { smtpUrl: string | undefined; from: string }) {
  const { smtpUrl } = options;
  // Made at the first message, not at the start: nodemailer is loaded only by a process that sends.
  let transport: Transporter | undefined;
  const deliver: Deliver = smtpUrl
    ? async (m) => {
        transport ??= (await import('nodemailer')).default.createTransport(smtpUrl);
        await transport.sendMail({ from: options.from, to: m.to, subject: m.subject, text: m.body });
      }
    : async (m) => {
        log.info({ to: maskEmail(m.to), subject: m.subject, body: m.body }, 'email (no SMTP_URL: written to the log)');
      };

  async function deliverDue(): Promise<number> {
    const { rows } = await db.query<{ id: number; to_address: string; subject: string; body: string; attempts: number }>(
      `update outbox set send_after = now() + make_interval(secs => ${LEASE_SECONDS}), attempts = attempts + 1
       where id in (select id from outbox where sent_at is null and failed_at is null and send_after <= now()
                    order by id limit ${BATCH} for update skip locked)
       returning id, to_address, subject, body, attempts`,
    );
    for (const message of rows) {
      try {
        await deliver({ to: message.to_address, subject: message.subject, body: message.body });
        await db.query('update outbox set sent_at = now(), last_error = null where id = $1', [message.id]);
      } catch (error) {
        const reason = (error as Error).message.slice(0, 500);
        log.warn({ outboxId: message.id, attempts: message.attempts, reason }, 'email delivery failed');
        await db.query(
          `update outbox set last_error = $2,
             send_after = now() + make_interval(secs => 30 * power(2, attempts - 1)::int),
             failed_at = case when attempts >= ${MAX_ATTEMPTS} then now() end
           where id = $1`,
          [message.id, reason],
        );
      }
    }
    return rows.length;
  }

  return { deliverDue, close: () => transport?.close() };
}
