import type { Db } from '../../src/db/db.js';

/** The newest code sent to this number (E.164), as the message outbox holds it until a gateway sends it. */
export async function lastCodeTo(db: Db, phone: string): Promise<string> {
  const { rows } = await db.query<{ code: string }>(
    "select code from message_outbox where to_phone = $1 and kind = 'code' order by id desc limit 1",
    [phone],
  );
  if (!rows[0]) throw new Error(`no code to ${phone}`);
  return rows[0].code;
}
