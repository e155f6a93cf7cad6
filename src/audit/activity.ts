import type { Db, Queryable } from '../db/db.js';

/** The events the admin home shows, day by day. */
const SHOWN = ['login.succeeded', 'login.failed', 'account.locked', 'citizen.created', 'identity.verified'] as const;
type Shown = (typeof SHOWN)[number];

export interface WeekActivity {
  /** The last seven days, oldest first, as YYYY-MM-DD in Kediri's time zone (WIB). */
  days: string[];
  /** Per event type, a count per day (in the order of days). */
  counts: Record<Shown, number[]>;
  /** Successful logins per day for each unit that had any (Kediri ID's own portal as "kediri-id"). */
  loginsByUnit: Array<{ unit: string; counts: number[] }>;
}

/** The unit of each of these clients that exists (clients.ts clientLabels): the audit log names clients, not units. */
export type UnitsOfClients = (clientIds: string[]) => Promise<Map<string, { unit: string }>>;

/** The admin's week at a glance, from the audit log: one query for the counts, one for the clients' logins. */
export async function weekActivity(db: Db, unitsOf: UnitsOfClients, now = new Date()): Promise<WeekActivity> {
  const days = Array.from({ length: 7 }, (_, i) => {
    const day = new Date(now.getTime() + 7 * 3600_000 - (6 - i) * 86_400_000);
    return day.toISOString().slice(0, 10);
  });
  const since = `${days[0]} 00:00:00+07`;
  const day = "to_char(e.at at time zone 'Asia/Jakarta', 'YYYY-MM-DD')";
  const [byType, byClient] = await Promise.all([
    db.query<{ day: string; type: Shown; n: number }>(
      `select ${day} as day, e.type, count(*)::int as n from audit_events e
       where e.at >= $1::timestamptz and e.type = any($2) group by 1, 2`,
      [since, [...SHOWN]],
    ),
    db.query<{ day: string; client_id: string | null; n: number }>(
      `select ${day} as day, e.client_id, count(*)::int as n
       from audit_events e where e.at >= $1::timestamptz and e.type = 'login.succeeded' group by 1, 2`,
      [since],
    ),
  ]);
  const unitOf = await unitsOf([...new Set(byClient.rows.flatMap((r) => (r.client_id ? [r.client_id] : [])))]);
  const index = new Map(days.map((d, i) => [d, i]));
  const counts = Object.fromEntries(SHOWN.map((type) => [type, days.map(() => 0)])) as Record<Shown, number[]>;
  for (const row of byType.rows) {
    const i = index.get(row.day);
    if (i !== undefined) counts[row.type][i] = row.n;
  }
  const units = new Map<string, number[]>();
  for (const row of byClient.rows) {
    const i = index.get(row.day);
    if (i === undefined) continue;
    // Kediri ID's own portal, and clients deleted since, count as "kediri-id".
    const unit = (row.client_id && unitOf.get(row.client_id)?.unit) || 'kediri-id';
    const values = units.get(unit) ?? days.map(() => 0);
    values[i] = values[i]! + row.n;
    units.set(unit, values);
  }
  const loginsByUnit = [...units].map(([unit, values]) => ({ unit, counts: values }));
  return { days, counts, loginsByUnit: loginsByUnit.sort((a, b) => (a.unit < b.unit ? -1 : a.unit > b.unit ? 1 : 0)) };
}

/** A service a citizen signed in to, and when they last did. */
export interface LastSignIn {
  clientId: string;
  at: Date;
}

/**
 * The clients a citizen signed in to (successful logins in the audit log), the most recent first,
 * each once with its last sign-in; `except` leaves some out (Kediri ID's own portal).
 */
export async function lastSignIns(on: Queryable, citizenId: string, except: string[], limit: number): Promise<LastSignIn[]> {
  const { rows } = await on.query<LastSignIn>(
    `select client_id as "clientId", max(at) as at from audit_events
     where citizen_id = $1 and type = 'login.succeeded' and client_id is not null and client_id <> all($2)
     group by client_id order by max(at) desc limit $3`,
    [citizenId, except, limit],
  );
  return rows;
}
