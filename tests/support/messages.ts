import type { Db } from '../../src/db/db.js';

/** The newest WhatsApp or SMS message to a number (E.164): what the citizen would read on their phone. */
export async function lastMessageTo(db: Db, phone: string): Promise<{ channel: string; kind: string; body: string; code: string | null }> {
  const { rows } = await db.query<{ channel: string; kind: string; body: string; code: string | null }>(
    'select channel, kind, body, code from message_outbox where to_phone = $1 order by id desc limit 1',
    [phone],
  );
  if (!rows[0]) throw new Error(`no message to ${phone}`);
  return rows[0];
}

/** The newest code sent to this number (E.164), as the message outbox holds it until it is swept. */
export async function lastCodeTo(db: Db, phone: string): Promise<string> {
  const { rows } = await db.query<{ code: string }>(
    "select code from message_outbox where to_phone = $1 and kind = 'code' order by id desc limit 1",
    [phone],
  );
  if (!rows[0]) throw new Error(`no code to ${phone}`);
  return rows[0].code;
}

export async function messagesTo(db: Db, phone: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('select count(*)::int as n from message_outbox where to_phone = $1', [phone]);
  return rows[0]!.n;
}

/** As if `seconds` had passed since the codes to this number were asked for (the per-number limits then let more go). */
export async function phoneCodesAge(db: Db, phone: string, seconds: number): Promise<void> {
  await db.query('update phone_codes set created_at = created_at - make_interval(secs => $2) where phone = $1', [phone, seconds]);
}
