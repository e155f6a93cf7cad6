import type { Db } from '../db/db.js';

/**
 * Thresholds, with the reasoning (compare Keycloak's brute-force detection: 30 failures, waits
 * growing by 60 s up to 15 min, counts reset after 12 h; and Logto's sign-in lockout: a handful of
 * failures, then a lock of minutes):
 * - per account, failures are counted over an hour: from the 4th a growing wait (1, 2, 4, ... s,
 *   at most maxDelaySeconds) slows a guesser to a crawl while a person who mistypes barely notices;
 *   the 10th locks the account for 15 minutes and the citizen is emailed. Guessing stays far below
 *   what a common-password list needs (our policy already refuses the 49k most common).
 * - per IP address, generous limits: the MPP counter and campus networks put many citizens behind
 *   one address, so the IP limit only stops floods.
 */
export interface ThrottlePolicy {
  lockoutFailures: number;
  lockoutMinutes: number;
  delayAfterFailures: number;
  maxDelaySeconds: number;
  /** Attempts per IP address and action in a 15-minute window. */
  ipLimits: Record<IpAction, number>;
}

export type IpAction = 'login' | 'register' | 'reset' | 'code';

export const DEFAULT_THROTTLE: ThrottlePolicy = {
  lockoutFailures: 10,
  lockoutMinutes: 15,
  delayAfterFailures: 3,
  maxDelaySeconds: 30,
  ipLimits: { login: 100, register: 30, reset: 20, code: 50 },
};

const FAILURE_WINDOW_MINUTES = 60;
const IP_WINDOW_MINUTES = 15;

export type Verdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; locked: boolean };

export function createThrottle(db: Db, policy: ThrottlePolicy) {
  async function blocked(key: string): Promise<Verdict> {
    const { rows } = await db.query<{ wait: number; locked: boolean }>(
      `select ceil(extract(epoch from blocked_until - now()))::int as wait, count >= $2 as locked
       from throttle where key = $1 and blocked_until > now()`,
      [key, policy.lockoutFailures],
    );
    const row = rows[0];
    return row ? { allowed: false, retryAfterSeconds: Math.max(1, row.wait), locked: row.locked } : { allowed: true };
  }

  return {
    /** Whether an account (key: its id, or the keyed hash of an unknown identifier) may try now. */
    accountAllowed: (key: string) => blocked(`account:${key}`),

    /**
     * Counts a failed attempt; returns true when this one locked the account. The wait after it
     * grows with the failures in the last hour.
     */
    async accountFailed(key: string): Promise<boolean> {
      const { rows } = await db.query<{ count: number }>(
        `insert into throttle (key, count, window_start) values ($1, 1, now())
         on conflict (key) do update set
           count = case when throttle.window_start < now() - make_interval(mins => ${FAILURE_WINDOW_MINUTES}) then 1 else throttle.count + 1 end,
           window_start = case when throttle.window_start < now() - make_interval(mins => ${FAILURE_WINDOW_MINUTES}) then now() else throttle.window_start end
         returning count`,
        [`account:${key}`],
      );
      const failures = rows[0]!.count;
      const lockNow = failures === policy.lockoutFailures;
      const wait = failures >= policy.lockoutFailures
        ? policy.lockoutMinutes * 60
        : failures > policy.delayAfterFailures
          ? Math.min(2 ** (failures - policy.delayAfterFailures - 1), policy.maxDelaySeconds)
          : 0;
      if (wait > 0) {
        await db.query('update throttle set blocked_until = now() + make_interval(secs => $2) where key = $1', [`account:${key}`, wait]);
      }
      return lockNow;
    },

    /** A successful login forgets the account's failures. */
    async accountSucceeded(key: string): Promise<void> {
      await db.query('delete from throttle where key = $1', [`account:${key}`]);
    },

    /** Counts an attempt of this action from this address; refused past the limit of the window. */
    async ipAttempt(action: IpAction, ip: string): Promise<Verdict> {
      const key = `ip:${action}:${ip}`;
      const { rows } = await db.query<{ count: number; wait: number }>(
        `insert into throttle (key, count, window_start) values ($1, 1, now())
         on conflict (key) do update set
           count = case when throttle.window_start < now() - make_interval(mins => ${IP_WINDOW_MINUTES}) then 1 else throttle.count + 1 end,
           window_start = case when throttle.window_start < now() - make_interval(mins => ${IP_WINDOW_MINUTES}) then now() else throttle.window_start end
         returning count, ceil(extract(epoch from window_start + make_interval(mins => ${IP_WINDOW_MINUTES}) - now()))::int as wait`,
        [key],
      );
      const { count, wait } = rows[0]!;
      return count > policy.ipLimits[action] ? { allowed: false, retryAfterSeconds: Math.max(1, wait), locked: false } : { allowed: true };
    },

    /** Deletes counters whose windows are long over (run with the other sweeps). */
    async sweep(): Promise<void> {
      await db.query(
        `delete from throttle where window_start < now() - make_interval(mins => ${FAILURE_WINDOW_MINUTES})
           and (blocked_until is null or blocked_until < now())`,
      );
    },
  };
}

export type Throttle = ReturnType<typeof createThrottle>;
