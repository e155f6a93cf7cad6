import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Audit } from '../audit/audit.js';
import type { Db, Queryable } from '../db/db.js';
import { isUniqueViolation } from '../db/db.js';
import { InputError } from '../errors.js';
import type { AssuranceLevel } from '../identity/assurance.js';
import { isValidName, type Citizen, type CitizenStore } from '../identity/citizens.js';
import { checkNik } from '../identity/nik.js';
import type { AccountSessions } from '../identity/sessions.js';
import { TOKEN_TTL_MINUTES, type AccountTokens } from '../identity/account-tokens.js';
import type { Outbox } from '../email/outbox.js';
import { upstreamLinkCodeEmail } from '../email/messages.js';
import type { Sealer } from '../secrets.js';
import type { UpstreamChecks, UpstreamIdentity, UpstreamLogout } from './upstream-client.js';
import type { Upstream } from './upstreams.js';

/** How long a trip to an upstream and back may take, and the step after it. */
export const REQUEST_TTL_SECONDS = 15 * 60;

/** Why an upstream's identity is not signed in here, linked, or made an account. */
export type RefusalReason =
  /** The upstream sent no NIK, or one our NIK rules refuse (with its birth date). */
  | 'nik_invalid'
  /** No name or birth date to make an account with. */
  | 'details_missing'
  | 'account_locked'
  /** The account has no password and no verified contact to prove it with (it was made at another upstream). */
  | 'no_proof'
  /** The account is linked to another identity at this upstream, or the linked account holds another NIK. */
  | 'link_mismatch';

/** What happens with an identity an upstream vouched for. */
export type UpstreamDecision =
  /** Linked before: sign in. */
  | { kind: 'linked'; citizen: Citizen }
  /** No account holds the NIK: one is made, once the citizen confirms. */
  | { kind: 'new'; nik: string; name: string; birthdate: string; gender: 'male' | 'female' }
  /** An account holds the NIK: linked once the citizen proves they hold it (its password, or a code to its verified phone or email). */
  | { kind: 'prove'; citizen: Citizen; hasPassword: boolean }
  /** An unverified account holds the NIK with another name or birth date: only the counter can sort it out. */
  | { kind: 'counter' }
  | { kind: 'refused'; reason: RefusalReason };

/** An upstream link as /akun lists it (with the upstream's label, from upstreams.ts). */
export interface UpstreamLink {
  slug: string;
  linkedAt: Date;
  lastUsedAt: Date | null;
}

/** What the upstream's acr proves: its lists in the upstream's settings. */
export function levelProven(upstream: Pick<Upstream, 'verifiedAcr' | 'mfaAcr'>, acr: string | undefined): AssuranceLevel {
  if (acr && upstream.mfaAcr.includes(acr)) return 'verified-mfa';
  if (acr && upstream.verifiedAcr.includes(acr)) return 'verified';
  return 'basic';
}

/** A name without case, spacing and the marks between words: two names agree when these do. */
const tidyName = (name: string) => name.toLocaleLowerCase('id').replace(/[.,'’-]/g, ' ').replace(/\s+/g, ' ').trim();

/** Whether an account's name and birth date are the upstream's. */
const detailsAgree = (citizen: Pick<Citizen, 'name' | 'birthdate'>, identity: Pick<UpstreamIdentity, 'name' | 'birthdate'>) =>
  identity.name !== undefined && tidyName(citizen.name) === tidyName(identity.name) && citizen.birthdate === identity.birthdate;

const hashesEqual = (a: string, b: string) => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The accounts behind upstream sign-ins. Owns upstream_requests (one trip to an upstream and back,
 * used once, bound to the browser), upstream_links (a citizen's identity at an upstream),
 * upstream_sessions (for the upstream's back-channel logout) and upstream_logout_tokens.
 */
export function createUpstreamAccounts({ db, sealer, citizens, sessions, tokens, outbox, audit }: {
  db: Db;
  sealer: Sealer;
  citizens: CitizenStore;
  sessions: AccountSessions;
  tokens: AccountTokens;
  outbox: Outbox;
  audit: Audit;
}) {
  const stateHash = (state: string) => sealer.keyedHash('upstream-state', state);
  const browserHash = (browser: string) => sealer.keyedHash('upstream-browser', browser);

  async function linkedCitizen(slug: string, subject: string): Promise<string | undefined> {
    const { rows } = await db.query<{ citizen_id: string }>('select citizen_id from upstream_links where provider_slug = $1 and subject = $2', [slug, subject]);
    return rows[0]?.citizen_id;
  }

  /** The request is used: a second use of it (a double submit) fails here, inside the caller's transaction. */
  async function markUsed(tx: Queryable, state: string): Promise<void> {
    const { rowCount } = await tx.query('update upstream_requests set used_at = now() where state_hash = $1 and used_at is null', [stateHash(state)]);
    if (rowCount !== 1) throw new InputError('upstream_request_used');
  }

  /**
   * Makes the account verified when the upstream vouches (`level`) and the account's name and
   * birth date, read locked in this transaction, agree with the upstream's: a name changed while
   * the citizen proved the account is not verified. Whether they agree.
   */
  async function verifyWhenAgrees(tx: Queryable, slug: string, identity: UpstreamIdentity, citizenId: string, level: AssuranceLevel, ip: string): Promise<boolean> {
    const citizen = await citizens.lockById(tx, citizenId);
    const agrees = citizen !== undefined && detailsAgree(citizen, identity);
    if (level !== 'basic' && agrees && (await citizens.markIdentityVerified(tx, citizenId, { method: 'upstream', upstream: slug }))) {
      await audit({ type: 'identity.verified', citizenId, ip, details: { method: 'upstream', upstream: slug } }, tx);
    }
    return agrees;
  }

  async function insertLink(tx: Queryable, slug: string, subject: string, citizenId: string): Promise<void> {
    await tx.query('insert into upstream_links (provider_slug, subject, citizen_id, last_used_at) values ($1, $2, $3, now())', [slug, subject, citizenId]).catch(
      (error: unknown) => {
        throw isUniqueViolation(error) ? new InputError('upstream_link_taken') : error;
      },
    );
  }

  return {
    /**
     * Records a trip to an upstream for this interaction; returns the secret the browser keeps in
     * a cookie: the answer is accepted only in the browser that left.
     */
    async begin(slug: string, interactionUid: string, checks: UpstreamChecks): Promise<string> {
      const browser = randomBytes(32).toString('base64url');
      await db.query(
        `insert into upstream_requests (state_hash, provider_slug, interaction_uid, browser_hash, checks_enc, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))`,
        [stateHash(checks.state), slug, interactionUid, browserHash(browser), sealer.seal('upstream-request', JSON.stringify(checks)), REQUEST_TTL_SECONDS],
      );
      return browser;
    },

    /**
     * The request the upstream's answer (`state`) belongs to, once: a replayed answer, an
     * unknown or expired state, or another browser's gets undefined.
     */
    async takeReturn(state: string, browser: string): Promise<{ slug: string; interactionUid: string; checks: UpstreamChecks } | undefined> {
      const { rows } = await db.query<{ provider_slug: string; interaction_uid: string; browser_hash: string; checks_enc: string }>(
        `update upstream_requests set returned_at = now()
         where state_hash = $1 and returned_at is null and expires_at > now()
         returning provider_slug, interaction_uid, browser_hash, checks_enc`,
        [stateHash(state)],
      );
      const row = rows[0];
      if (!row || !hashesEqual(row.browser_hash, browserHash(browser))) return undefined;
      return { slug: row.provider_slug, interactionUid: row.interaction_uid, checks: JSON.parse(sealer.open('upstream-request', row.checks_enc)) as UpstreamChecks };
    },

    /** Keeps the identity the upstream vouched for, sealed, for the step that continues the interaction. */
    async keepIdentity(state: string, identity: UpstreamIdentity): Promise<void> {
      await db.query('update upstream_requests set identity_enc = $2 where state_hash = $1', [stateHash(state), sealer.seal('upstream-request', JSON.stringify(identity))]);
    },

    /** The identity an upstream vouched for in this browser and interaction, until the request is used or expires. */
    async identityFor(state: string, browser: string, interactionUid: string): Promise<{ slug: string; identity: UpstreamIdentity } | undefined> {
      const { rows } = await db.query<{ provider_slug: string; browser_hash: string; identity_enc: string }>(
        `select provider_slug, browser_hash, identity_enc from upstream_requests
         where state_hash = $1 and interaction_uid = $2 and identity_enc is not null and used_at is null and expires_at > now()`,
        [stateHash(state), interactionUid],
      );
      const row = rows[0];
      if (!row || !hashesEqual(row.browser_hash, browserHash(browser))) return undefined;
      return { slug: row.provider_slug, identity: JSON.parse(sealer.open('upstream-request', row.identity_enc)) as UpstreamIdentity };
    },

    /** What to do with this identity: sign in, make an account, ask for proof, send to the counter, or refuse. */
    async decide(slug: string, identity: UpstreamIdentity): Promise<UpstreamDecision> {
      const linkedId = await linkedCitizen(slug, identity.subject);
      if (linkedId) {
        const citizen = await citizens.findById(linkedId);
        if (!citizen || !identity.nik || (await citizens.nikOf(linkedId)) !== identity.nik) return { kind: 'refused', reason: 'link_mismatch' };
        return citizen.status === 'active' ? { kind: 'linked', citizen } : { kind: 'refused', reason: 'account_locked' };
      }
      if (!identity.nik) return { kind: 'refused', reason: 'nik_invalid' };
      if (!identity.birthdate || !identity.name) return { kind: 'refused', reason: 'details_missing' };
      const checked = checkNik(identity.nik, identity.birthdate);
      if (!checked.ok) return { kind: 'refused', reason: checked.code === 'birthdate_invalid' ? 'details_missing' : 'nik_invalid' };
      const holder = await citizens.findByNik(identity.nik);
      if (!holder) {
        const name = identity.name.replace(/\s+/g, ' ');
        if (!isValidName(name)) return { kind: 'refused', reason: 'details_missing' };
        return { kind: 'new', nik: identity.nik, name, birthdate: checked.birthdate, gender: checked.gender };
      }
      if (holder.status !== 'active') return { kind: 'refused', reason: 'account_locked' };
      const { rowCount } = await db.query('select 1 from upstream_links where provider_slug = $1 and citizen_id = $2', [slug, holder.id]);
      if (rowCount > 0) return { kind: 'refused', reason: 'link_mismatch' };
      if (holder.assurance !== 'verified' && !detailsAgree(holder, identity)) return { kind: 'counter' };
      const hasPassword = await citizens.hasPassword(holder.id);
      if (!hasPassword && !holder.phone_verified && !holder.email_verified) return { kind: 'refused', reason: 'no_proof' };
      return { kind: 'prove', citizen: holder, hasPassword };
    },

    /**
     * Links the account to the identity (the citizen proved they hold it, by `proof`), and makes it
     * verified when the upstream vouches; the request is used. An unverified account whose name or
     * birth date no longer agrees (changed meanwhile) is not linked: InputError upstream_details_differ.
     * The account as it now is.
     */
    async link(state: string, slug: string, identity: UpstreamIdentity, citizen: Citizen, { level, proof, ip }: { level: AssuranceLevel; proof: string; ip: string }): Promise<Citizen> {
      return db.transaction(async (tx) => {
        await markUsed(tx, state);
        const agrees = await verifyWhenAgrees(tx, slug, identity, citizen.id, level, ip);
        if (!agrees && citizen.assurance !== 'verified') throw new InputError('upstream_details_differ');
        await insertLink(tx, slug, identity.subject, citizen.id);
        await audit({ type: 'upstream.linked', citizenId: citizen.id, ip, details: { upstream: slug, proof } }, tx);
        return (await citizens.findById(citizen.id, tx))!;
      });
    },

    /**
     * A new account from the identity, with the contacts the citizen chose (unverified: we prove
     * them ourselves), linked, verified when the upstream vouches; the request is used. An
     * InputError (the email or NIK taken) writes nothing.
     */
    async createAccount(state: string, slug: string, identity: UpstreamIdentity, details: Extract<UpstreamDecision, { kind: 'new' }>,
      { email, phone, level, ip }: { email: string | null; phone: string | null; level: AssuranceLevel; ip: string }): Promise<Citizen> {
      return db.transaction(async (tx) => {
        await markUsed(tx, state);
        const verifiedBy = level === 'basic' ? undefined : slug;
        const citizen = await citizens.createFromUpstream(tx, { ...details, email, phone, verifiedBy });
        await insertLink(tx, slug, identity.subject, citizen.id);
        await audit({ type: 'citizen.created', actor: `upstream:${slug}`, citizenId: citizen.id, ip }, tx);
        await audit({ type: 'upstream.linked', citizenId: citizen.id, ip, details: { upstream: slug, proof: 'new_account' } }, tx);
        if (verifiedBy) await audit({ type: 'identity.verified', citizenId: citizen.id, ip, details: { method: 'upstream', upstream: slug } }, tx);
        return citizen;
      });
    },

    /**
     * A sign-in of a linked account: the request is used, the link touched, the account made
     * verified when the upstream vouches and its name and birth date agree with the upstream's
     * (an unverified account's may have changed since it was linked).
     */
    async signIn(state: string, slug: string, identity: UpstreamIdentity, citizen: Citizen, { level, ip }: { level: AssuranceLevel; ip: string }): Promise<Citizen> {
      return db.transaction(async (tx) => {
        await markUsed(tx, state);
        await tx.query('update upstream_links set last_used_at = now() where provider_slug = $1 and subject = $2', [slug, identity.subject]);
        await verifyWhenAgrees(tx, slug, identity, citizen.id, level, ip);
        return (await citizens.findById(citizen.id, tx))!;
      });
    },

    /** Emails a code to the account's verified email, to prove the citizen holds it; the code's token id. */
    async sendEmailCode(citizen: Citizen): Promise<string> {
      if (!citizen.email || !citizen.email_verified) throw new InputError('upstream_email_unverified');
      return db.transaction(async (tx) => {
        const issued = await tokens.issue(tx, citizen.id, 'link_upstream');
        await outbox.enqueue(upstreamLinkCodeEmail(citizen.email, citizen.name, issued.code!, TOKEN_TTL_MINUTES.link_upstream), tx);
        return issued.id;
      });
    },

    /** Whether `code` is the live emailed code `tokenId` of this account: once, five tries at most. */
    async emailCodeProves(citizenId: string, tokenId: string, code: string): Promise<boolean> {
      return (await tokens.claimCode(db, 'link_upstream', tokenId, code.trim()))?.citizenId === citizenId;
    },

    /** Remembers which upstream session a login here (at `loginTs`, epoch seconds) came from, for its back-channel logout. */
    async recordSession(slug: string, identity: { subject: string; sid?: string }, citizenId: string, loginTs: number, ttlSeconds: number): Promise<void> {
      await db.query(
        `insert into upstream_sessions (provider_slug, subject, sid, citizen_id, login_ts, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(secs => $6::int))`,
        [slug, identity.subject, identity.sid ?? null, citizenId, loginTs, ttlSeconds],
      );
    },

    /**
     * The upstream ended a session (a validated logout token): our sessions that began with it end
     * too, and the services signed in with them get our back-channel logout. 'replayed' for a token
     * (its jti) honoured before; otherwise how many of our sessions ended.
     */
    async logout(slug: string, logout: UpstreamLogout): Promise<number | 'replayed'> {
      const match = 'provider_slug = $1 and ($2::text is null or subject = $2) and ($3::text is null or sid = $3)';
      const params = [slug, logout.subject ?? null, logout.sid ?? null];
      // Our sessions that began with it: the account's sessions whose login time is the one recorded.
      const { rows } = await db.query<{ citizen_id: string; login_ts: string }>(`select citizen_id, login_ts from upstream_sessions where ${match}`, params);
      const ending = await Promise.all([...new Set(rows.map((r) => r.citizen_id))].map(async (citizenId) => {
        const times = new Set(rows.filter((r) => r.citizen_id === citizenId).map((r) => Number(r.login_ts) * 1000));
        return { citizenId, sessionIds: (await sessions.list(citizenId)).filter((s) => times.has(s.signedInAt.getTime())).map((s) => s.id) };
      }));
      return db.transaction(async (tx) => {
        const fresh = await tx.query(
          'insert into upstream_logout_tokens (provider_slug, jti, expires_at) values ($1, $2, to_timestamp($3)) on conflict do nothing',
          [slug, logout.jti, logout.expiresAt],
        );
        if (fresh.rowCount !== 1) return 'replayed' as const;
        await tx.query(`delete from upstream_sessions where ${match}`, params);
        let count = 0;
        for (const { citizenId, sessionIds } of ending) {
          for (const sessionId of sessionIds) if (await sessions.endOne(tx, citizenId, sessionId)) count++;
          // Kediri ID's own pages (/akun) signed in with it end too: every portal session of the account.
          if (sessionIds.length > 0) await citizens.markSessionsEnded(tx, citizenId);
          await audit({ type: 'upstream.logout', citizenId, details: { upstream: slug, sessions: sessionIds.length } }, tx);
        }
        return count;
      });
    },

    /** The account's links, for /akun. */
    async links(citizenId: string): Promise<UpstreamLink[]> {
      const { rows } = await db.query<UpstreamLink>(
        `select provider_slug as slug, created_at as "linkedAt", last_used_at as "lastUsedAt"
         from upstream_links where citizen_id = $1 order by created_at`,
        [citizenId],
      );
      return rows;
    },

    /** Removes a link, unless it is the account's last way to sign in (no password, no other link). */
    async unlink(citizenId: string, slug: string, ip: string): Promise<void> {
      await db.transaction(async (tx) => {
        await citizens.lockById(tx, citizenId);
        const { rows } = await tx.query<{ provider_slug: string }>('select provider_slug from upstream_links where citizen_id = $1', [citizenId]);
        if (!rows.some((r) => r.provider_slug === slug)) throw new InputError('upstream_link_unknown');
        if (rows.length === 1 && !(await citizens.hasPassword(citizenId, tx))) throw new InputError('upstream_link_last');
        await tx.query('delete from upstream_links where citizen_id = $1 and provider_slug = $2', [citizenId, slug]);
        await audit({ type: 'upstream.unlinked', citizenId, ip, details: { upstream: slug } }, tx);
      });
    },

    /** Forgets at most `limit` requests, sessions or logout tokens past their time (the retention job); returns how many. */
    async sweep(table: UpstreamExpiring, limit: number): Promise<number> {
      const statements: Record<UpstreamExpiring, string> = {
        upstream_requests: 'delete from upstream_requests where ctid = any(array(select ctid from upstream_requests where expires_at < now() limit $1))',
        upstream_sessions: 'delete from upstream_sessions where ctid = any(array(select ctid from upstream_sessions where expires_at < now() limit $1))',
        upstream_logout_tokens: 'delete from upstream_logout_tokens where ctid = any(array(select ctid from upstream_logout_tokens where expires_at < now() limit $1))',
      };
      return (await db.query(statements[table], [limit])).rowCount;
    },
  };
}

export type UpstreamAccounts = ReturnType<typeof createUpstreamAccounts>;

/** The tables of this module whose rows expire. */
export const UPSTREAM_EXPIRING = ['upstream_requests', 'upstream_sessions', 'upstream_logout_tokens'] as const;
export type UpstreamExpiring = (typeof UPSTREAM_EXPIRING)[number];
