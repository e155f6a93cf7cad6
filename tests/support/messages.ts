import type { Db } from '../../src/db/db.js';

/**
 * The code of the newest WhatsApp or SMS message to this number (E.164): what the citizen would
 * read on their phone. Read from the message outbox, since no gateway runs in these tests.
 */
export async function lastCodeTo(db: Db, phone: string): Promise<string> {
  const { rows } = await db.query<{ code: string | null }>(
    "select code from message_outbox where to_phone = $1 and kind = 'code' order by id desc limit 1",
    [phone],
  );
  const code = rows[0]?.code;
  if (!code) throw new Error(`no code to ${phone}`);
  return code;
}

/** How many messages went to this number (E.164). */
export async function messagesTo(db: Db, phone: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from message_outbox where to_phone = $1', [phone]);
  return rows[0]!.n;
}

/**
 * As if `seconds` had passed since this number's codes were asked for: the wait between codes
 * (a minute) and the limits per number then let the next one go.
 */
export async function phoneCodesAge(db: Db, phone: string, seconds: number): Promise<void> {
  await db.query('update phone_codes set created_at = created_at - make_interval(secs => $2) where phone = $1', [phone, seconds]);
}
