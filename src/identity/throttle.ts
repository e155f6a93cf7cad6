import { isIPv4, isIPv6 } from 'node:net';
import type { Db, Queryable } from '../db/db.js';
import type { TokenPurpose } from './account-tokens.js';
import type { ThrottlePolicy } from '../config.js';

/** The actions limited per IP address (their limits: ThrottlePolicy in config.ts, with the reasoning). */
export type IpAction = keyof ThrottlePolicy['ipLimits'];

const FAILURE_WINDOW_MINUTES = 60;
const IP_WINDOW_MINUTES = 15;

export type Verdict = { allowed: true } | { allowed: false; retryAfterSeconds: number; locked: boolean };

/** `refused` hears of each refusal, by what was limited: ip_<action> or account (the metrics count them). */
export function createThrottle(db: Db, policy: ThrottlePolicy, refused: (limit: string) => void = () => {}) {
  const WINDOW = `make_interval(mins => ${FAILURE_WINDOW_MINUTES})`;
  const LOCK_RAN_OUT = 'throttle.locked_until <= now()';

  /** Counts under $1 an attempt on an account (see accountAttempt); returns count and wait. */
  const COUNT_ACCOUNT = `
    on conflict (key) do update set
      count = case when throttle.blocked_until > now() then throttle.count
                   when throttle.window_start < now() - ${WINDOW} or ${LOCK_RAN_OUT} then 1
                   else throttle.count + 1 end,
      window_start = case when throttle.blocked_until > now() then throttle.window_start
                          when throttle.window_start < now() - ${WINDOW} or ${LOCK_RAN_OUT} then now()
                          else throttle.window_start end,
      locked_until = case when ${LOCK_RAN_OUT} then null else throttle.locked_until end
    returning count, coalesce(ceil(extract(epoch from blocked_until - now())), 0)::int as wait`;
  const IP_WINDOW = `make_interval(mins => ${IP_WINDOW_MINUTES})`;
  /** Counts an attempt from an address (see ipAttempt); returns count and wait. */
  const COUNT_IP = `
    on conflict (key) do update set
      count = case when throttle.window_start < now() - ${IP_WINDOW} then 1 else throttle.count + 1 end,
      window_start = case when throttle.window_start < now() - ${IP_WINDOW} then now() else throttle.window_start end
    returning count, ceil(extract(epoch from window_start + ${IP_WINDOW} - now()))::int as wait`;
  const ipKeyOf = (action: IpAction, ip: string) => `ip:${action}:${ipKey(ip)}`;

  function accountVerdict({ count, wait }: { count: number; wait: number }): Verdict {
    const verdict: Verdict = wait > 0
      ? { allowed: false, retryAfterSeconds: wait, locked: count >= policy.lockoutFailures }
      : count > policy.lockoutFailures
        ? { allowed: false, retryAfterSeconds: policy.lockoutMinutes * 60, locked: true }
        : { allowed: true };
    if (!verdict.allowed) refused('account');
    return verdict;
  }

  function ipVerdict(action: IpAction, { count, wait }: { count: number; wait: number }): Verdict {
    if (count <= policy.ipLimits[action]) return { allowed: true };
    refused(`ip_${action}`);
    return { allowed: false, retryAfterSeconds: Math.max(1, wait), locked: false };
  }

  return {
    /**
     * Counts an attempt on an account (key: its id, or the keyed hash of an unknown identifier)
     * before its password or code is checked, atomically, so that parallel guesses are counted
     * too: refused while a wait or lock runs, and once the count passes the lockout. A refused
     * attempt is not counted; after a lock has run out the count starts again.
     */
    async accountAttempt(key: string): Promise<Verdict> {
      const { rows } = await db.query<{ count: number; wait: number }>(
        `insert into throttle (key, count, window_start) values ($1, 1, now()) ${COUNT_ACCOUNT}`,
        [`account:${key}`],
      );
      return accountVerdict(rows[0]!);
    },

    /**
     * An attempt of this action from this address on an account, in one statement: counted
     * against the address (ipAttempt), and, only when the address is within its limit, against
     * the account (accountAttempt). The first refusal is the verdict.
     */
    async attempt(action: IpAction, ip: string, key: string): Promise<Verdict> {
      const { rows } = await db.query<{ ip_count: number; ip_wait: number; account_count: number | null; account_wait: number | null }>(
        `with ip as (
           insert into throttle (key, count, window_start) values ($1, 1, now()) ${COUNT_IP}
         ), account as (
           insert into throttle (key, count, window_start) select $2, 1, now() from ip where ip.count <= $3 ${COUNT_ACCOUNT}
         )
         select ip.count as ip_count, ip.wait as ip_wait, account.count as account_count, account.wait as account_wait
         from ip left join account on true`,
        [ipKeyOf(action, ip), `account:${key}`, policy.ipLimits[action]],
      );
      const row = rows[0]!;
      const address = ipVerdict(action, { count: row.ip_count, wait: row.ip_wait });
      if (!address.allowed || row.account_count === null) return address;
      return accountVerdict({ count: row.account_count, wait: row.account_wait ?? 0 });
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
    async ipAttempt(action: IpAction, ip: string, on: Queryable = db): Promise<Verdict> {
      const { rows } = await on.query<{ count: number; wait: number }>(
        `insert into throttle (key, count, window_start) values ($1, 1, now()) ${COUNT_IP}`,
        [ipKeyOf(action, ip)],
      );
      return ipVerdict(action, rows[0]!);
    },

    /** Deletes at most `limit` counters whose windows are long over (the retention job); returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        `delete from throttle where ctid = any(array(
           select ctid from throttle where window_start < now() - make_interval(mins => ${FAILURE_WINDOW_MINUTES})
             and (blocked_until is null or blocked_until < now()) limit $1))`,
        [limit],
      );
      return rowCount;
    },
  };
}

export type Throttle = ReturnType<typeof createThrottle>;

/**
 * The address that a per-address limit counts under. IPv4 as it is, also when written as IPv6
 * (::ffff:1.2.3.4, as a dual-stack socket reports IPv4 clients). IPv6 as its /64 network
 * ("2001:db8:0:1::/64"): the least that one subscriber is given (RFC 6177; providers often hand
 * out a /56 or /48), so that stepping through the addresses of one's own network does not escape
 * the limit. A zone id (fe80::1%eth0) names our interface, not the client, and is dropped.
 */
export function ipKey(ip: string): string {
  const address = ip.split('%')[0]!;
  if (isIPv4(address)) return address;
  // Not an address (a proxy header can say anything): counted as it is, cut to a bounded key.
  if (!isIPv6(address)) return ip.slice(0, 64);
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    return [groups[6]! >> 8, groups[6]! & 0xff, groups[7]! >> 8, groups[7]! & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address: "::" filled with zeros, a dotted IPv4 tail as two groups. */
function ipv6Groups(address: string): number[] {
  const groupsOf = (part: string | undefined): number[] =>
    part
      ? part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        })
      : [];
  const [head, tail] = address.split('::');
  const front = groupsOf(head);
  const back = groupsOf(tail);
  return [...front, ...new Array<number>(8 - front.length - back.length).fill(0), ...back];
}

/**
 * Emails that anyone can make us send to an account (the verification link and code, the reset
 * link): the per-address limits do not see requests spread over many addresses, so without a
 * limit per account one citizen's inbox could be flooded. At most one a minute (a person whose
 * email is slow can ask again soon, and mail usually arrives within it) and five an hour (more
 * does not help someone whose mail is not arriving; the MPP counter does). Compare Keycloak,
 * whose verify-email action waits 30 s between emails by default, and Login.gov, which allows
 * 20 confirmation or reset emails per account an hour: ours are stricter because the earlier
 * email stays good (a verification code a day, a reset link 30 minutes), so waiting costs little.
 */
export const EMAIL_COOLDOWN_SECONDS = 60;
export const EMAILS_PER_HOUR = 5;

/**
 * Seconds before the account may be sent another email of this purpose (0: now), judged by the
 * tokens issued in the last hour (each went out in one email). Call it in the transaction that
 * issues the next token: it holds a lock on the account and purpose until that ends, so that
 * parallel requests are judged one after the other and cannot all pass.
 */
export async function emailWait(tx: Queryable, citizenId: string, purpose: TokenPurpose): Promise<number> {
  await tx.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`email:${purpose}:${citizenId}`]);
  // The later of: a minute after the newest email; an hour after the fifth newest, if any.
  const { rows } = await tx.query<{ wait: number }>(
    `select greatest(0, coalesce(ceil(extract(epoch from greatest(
         max(created_at) + make_interval(secs => $3),
         (array_agg(created_at order by created_at desc))[$4] + interval '1 hour') - now())), 0))::int as wait
     from account_tokens
     where citizen_id = $1 and purpose = $2 and created_at > now() - interval '1 hour'`,
    [citizenId, purpose, EMAIL_COOLDOWN_SECONDS, EMAILS_PER_HOUR],
  );
  return rows[0]!.wait;
}
