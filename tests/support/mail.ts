import type { Db } from '../../src/db/db.js';

/** The newest outbox message to an address: what the citizen would find in their inbox. */
export async function lastEmailTo(db: Db, to: string): Promise<{ subject: string; body: string; link?: string; code?: string }> {
  const { rows } = await db.query<{ subject: string; body: string }>(
    'select subject, body from outbox where lower(to_address) = lower($1) order by id desc limit 1',
    [to],
  );
  const message = rows[0];
  if (!message) throw new Error(`no email to ${to}`);
  return { ...message, link: /https?:\/\/\S+/.exec(message.body)?.[0], code: /\b(\d{6})\b/.exec(message.body)?.[1] };
}

export async function emailsTo(db: Db, to: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from outbox where lower(to_address) = lower($1)', [to]);
  return rows[0]!.n;
}

/**
 * As if `seconds` had passed since the account's emailed codes and links were issued: the
 * per-account email limit (one a minute) then lets the next one go.
 */
export async function emailedTokensAge(db: Db, email: string, seconds: number): Promise<void> {
  await db.query(
    `update account_tokens set created_at = created_at - make_interval(secs => $2)
     where citizen_id = (select id from citizens where lower(email) = lower($1))`,
    [email, seconds],
  );
}
