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
  const WINDOW = `make_interval(mins => ${FAILURE_WINDOW_MINUTES})`;
  const LOCK_RAN_OUT = 'throttle.locked_until <= now()';

  return {
    /**
     * Counts an attempt on an account (key: its id, or the keyed hash of an unknown identifier)
     * before its password or code is checked, atomically, so that parallel guesses are counted
     * too: refused while a wait or lock runs, and once the count passes the lockout. A refused
     * attempt is not counted; after a lock has run out the count starts again.
     */
    async accountAttempt(key: string): Promise<Verdict> {
      const { rows } = await db.query<{ count: number; wait: number }>(
        `insert into throttle (key, count, window_start) values ($1, 1, now())
         on conflict (key) do update set
           count = case when throttle.blocked_until > now() then throttle.count
                        when throttle.window_start < now() - ${WINDOW} or ${LOCK_RAN_OUT} then 1
                        else throttle.count + 1 end,
           window_start = case when throttle.blocked_until > now() then throttle.window_start
                               when throttle.window_start < now() - ${WINDOW} or ${LOCK_RAN_OUT} then now()
                               else throttle.window_start end,
           locked_until = case when ${LOCK_RAN_OUT} then null else throttle.locked_until end
         returning count, coalesce(ceil(extract(epoch from blocked_until - now())), 0)::int as wait`,
        [`account:${key}`],
      );
      const { count, wait } = rows[0]!;
      if (wait > 0) return { allowed: false, retryAfterSeconds: wait, locked: count >= policy.lockoutFailures };
      if (count > policy.lockoutFailures) return { allowed: false, retryAfterSeconds: policy.lockoutMinutes * 60, locked: true };
      return { allowed: true };
    },

    /**
     * The counted attempt failed: sets the wait before the next one (growing from the fourth
     * failure) or, at the lockout count, the lock. Returns true when this failure locked the account.
     */
    async accountFailed(key: string): Promise<boolean> {
      const { rows } = await db.query<{ count: number }>('select count from throttle where key = $1', [`account:${key}`]);
      const failures = rows[0]?.count ?? 0;
      const wait = failures >= policy.lockoutFailures
        ? policy.lockoutMinutes * 60
        : failures > policy.delayAfterFailures
          ? Math.min(2 ** (failures - policy.delayAfterFailures - 1), policy.maxDelaySeconds)
          : 0;
      if (wait > 0) {
        await db.query(
          `update throttle set blocked_until = now() + make_interval(secs => $2),
             locked_until = case when $3 then now() + make_interval(secs => $2) else locked_until end
           where key = $1`,
          [`account:${key}`, wait, failures >= policy.lockoutFailures],
        );
      }
      return failures === policy.lockoutFailures;
    },

    /**
     * The counted attempt was no failure but not the end of the login either (a right password
     * before its second factor): it is uncounted, and the earlier failures stay.
     */
    async accountPassedStep(key: string): Promise<void> {
      await db.query('update throttle set count = count - 1 where key = $1 and count > 0', [`account:${key}`]);
    },

    /** The counted attempt succeeded: the account's failures are forgotten. */
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
