import type { Db } from '../db/db.js';

/*
 * Releases of personal data to the units' services (UU 27/2022, UU PDP), table data_releases
 * (migrations/023_data_releases.sql): which claims about a citizen a service was given, when, and
 * under which consent (grant). Claim names only, never their values. A token response adds one to
 * the row of its citizen, service, consent, claim names and day (Kediri's time zone, WIB).
 */

/** Kediri's day of a timestamp (SQL). */
const DAY = (at: string) => `(${at} at time zone 'Asia/Jakarta')::date`;
/** The first day of the current month in Kediri (SQL). */
const THIS_MONTH = `date_trunc('month', now() at time zone 'Asia/Jakarta')::date`;

export interface Release {
  citizenId: string;
  clientId: string;
  grantId: string;
  /** The claim names, sorted. */
  claims: string[];
}

/**
 * The statement that records a release: a write nothing reads back, so the provider sends it in
 * front of its next statement (oidc/request-state.ts) and it costs no statement of its own.
 */
export function releaseStatement({ citizenId, clientId, grantId, claims }: Release) {
  return {
    sql: `insert into data_releases (citizen_id, client_id, grant_id, claims, day)
          values ($1, $2, $3, $4::text[], ${DAY('now()')})
          on conflict (citizen_id, client_id, day, grant_id, claims) do update
            set count = data_releases.count + 1, last_at = now()`,
    params: [citizenId, clientId, grantId, [...claims].sort()],
  };
}

/** What one service was given of a citizen's data: every claim name ever released, the last release, and how many this month. */
export interface ServiceReleases {
  clientId: string;
  claims: string[];
  lastAt: Date;
  thisMonth: number;
  total: number;
}

/** One row of the record, as the citizen's data export holds it. */
export interface ReleaseRecord {
  clientId: string;
  grantId: string;
  claims: string[];
  day: string;
  count: number;
  lastAt: Date;
}

/** Releases of one service in one month (YYYY-MM, Kediri's time). */
export interface MonthlyReleases {
  clientId: string;
  month: string;
  releases: number;
  citizens: number;
  claims: string[];
}

export function createDataReleases(db: Db) {
  return {
    /** Per service, what the citizen's data it was given; the latest release first. */
    async ofCitizen(citizenId: string): Promise<ServiceReleases[]> {
      const { rows } = await db.query<ServiceReleases>(
        `select client_id as "clientId",
           array(select distinct c from data_releases r2, unnest(r2.claims) c
                 where r2.citizen_id = $1 and r2.client_id = r.client_id order by c) as claims,
           max(last_at) as "lastAt",
           coalesce(sum(count) filter (where day >= ${THIS_MONTH}), 0)::int as "thisMonth",
           sum(count)::int as total
         from data_releases r where citizen_id = $1
         group by client_id order by "lastAt" desc`,
        [citizenId],
      );
      return rows;
    },

    /** Every row of the citizen's record, newest first (the data export). */
    async recordOf(citizenId: string): Promise<ReleaseRecord[]> {
      const { rows } = await db.query<ReleaseRecord>(
        `select client_id as "clientId", grant_id as "grantId", claims, to_char(day, 'YYYY-MM-DD') as day, count, last_at as "lastAt"
         from data_releases where citizen_id = $1 order by day desc, last_at desc`,
        [citizenId],
      );
      return rows;
    },

    /** Releases per service and month over the last `months` months (this one included), the newest month first. */
    async perMonth(months: number): Promise<MonthlyReleases[]> {
      const { rows } = await db.query<MonthlyReleases>(
        `with m as (
           select client_id, to_char(day, 'YYYY-MM') as month, citizen_id, count, claims from data_releases
           where day >= (${THIS_MONTH} - make_interval(months => $1::int - 1))::date)
         select client_id as "clientId", month, sum(count)::int as releases, count(distinct citizen_id)::int as citizens,
           array(select distinct c from m m2, unnest(m2.claims) c where m2.client_id = m.client_id and m2.month = m.month order by c) as claims
         from m group by client_id, month order by month desc, client_id`,
        [months],
      );
      return rows;
    },
  };
}

export type DataReleases = ReturnType<typeof createDataReleases>;
