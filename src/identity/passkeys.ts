import type { AuthenticationResponseJSON, AuthenticatorTransport, RegistrationResponseJSON } from '@simplewebauthn/server';
import { z } from 'zod';
import type { Db } from '../db/db.js';
import type { Citizen } from './citizens.js';
import type { SecondFactors } from './second-factors.js';

/** A ceremony's challenge is good for five minutes and for one answer. */
const CHALLENGE_MINUTES = 5;
/** Enough for a phone, a laptop and a couple of security keys, with room to spare. */
export const MAX_PASSKEYS = 10;
export const PASSKEY_NAME_MAX = 60;

type Ceremony = 'register' | 'authenticate';

/** Loaded at the first ceremony, not at every start: with its certificate parsers it is the largest library a start would load. */
const webauthn = () => import('@simplewebauthn/server');

/** The browser's answers, as @simplewebauthn/browser sends them: checked for shape before the library sees them. */
const b64 = z.string().max(4000).regex(/^[\w-]*={0,2}$/);
/** WebAuthn credential ids are at most 1023 bytes: 1364 characters in base64url. */
export const CREDENTIAL_ID_MAX = 1364;
const credentialId = b64.max(CREDENTIAL_ID_MAX);
const answer = <T extends z.ZodRawShape>(response: T) =>
  z.object({
    id: credentialId,
    rawId: credentialId,
    type: z.literal('public-key'),
    response: z.object({ clientDataJSON: b64, ...response }),
    clientExtensionResults: z.object({}).default({}),
  });
const registrationAnswer = answer({ attestationObject: b64, transports: z.array(z.string().max(20)).max(10).optional() });
const authenticationAnswer = answer({ authenticatorData: b64, signature: b64, userHandle: b64.optional() });

function parse<T>(schema: z.ZodType<T>, json: string): T | undefined {
  try {
    return schema.parse(JSON.parse(json));
  } catch {
    return undefined;
  }
}

export interface PasskeySummary {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/**
 * WebAuthn passkeys as a second factor (@simplewebauthn/server). The relying party is the issuer's
 * host and origin; challenges are stored server-side, one per account and ceremony, and taken once,
 * so a replayed answer finds none. amr reports `swk` for a passkey synced between devices and
 * `hwk` for one bound to its device (RFC 8176).
 */
export function createPasskeys(db: Db, secondFactors: SecondFactors, issuer: string) {
  const rpID = new URL(issuer).hostname;
  const origin = new URL(issuer).origin;

  /** Keeps the challenge of a ceremony (login: the interaction it belongs to); drops the account's expired ones. */
  async function keep(citizenId: string, ceremony: Ceremony, login: string, challenge: string): Promise<void> {
    await db.query('delete from webauthn_challenges where citizen_id = $1 and expires_at <= now()', [citizenId]);
    await db.query(
      `insert into webauthn_challenges (citizen_id, ceremony, login, challenge, expires_at)
       values ($1, $2, $3, $4, now() + make_interval(mins => ${CHALLENGE_MINUTES}))
       on conflict (citizen_id, ceremony, login) do update set challenge = excluded.challenge, expires_at = excluded.expires_at`,
      [citizenId, ceremony, login, challenge],
    );
  }

  /** Takes the challenge (once: a second answer finds none), if it has not expired. */
  async function take(citizenId: string, ceremony: Ceremony, login: string): Promise<string | undefined> {
    const { rows } = await db.query<{ challenge: string; live: boolean }>(
      `delete from webauthn_challenges where citizen_id = $1 and ceremony = $2 and login = $3
       returning challenge, expires_at > now() as live`,
      [citizenId, ceremony, login],
    );
    return rows[0]?.live ? rows[0].challenge : undefined;
  }

  async function credentials(citizenId: string) {
    const { rows } = await db.query<{ id: string; public_key: string; counter: string; transports: string }>(
      'select id, public_key, counter, transports from passkeys where citizen_id = $1 order by created_at',
      [citizenId],
    );
    return rows.map((row) => ({
      id: row.id,
      publicKey: Buffer.from(row.public_key, 'base64url'),
      counter: Number(row.counter),
      transports: (row.transports ? row.transports.split(',') : []) as AuthenticatorTransport[],
    }));
  }

  return {
    /** Deletes at most `limit` challenges past their time (the retention job); returns how many. */
    async sweep(limit: number): Promise<number> {
      const { rowCount } = await db.query(
        'delete from webauthn_challenges where ctid = any(array(select ctid from webauthn_challenges where expires_at < now() limit $1))',
        [limit],
      );
      return rowCount;
    },

    async list(citizenId: string): Promise<PasskeySummary[]> {
      const { rows } = await db.query<PasskeySummary>(
        `select id, name, created_at as "createdAt", last_used_at as "lastUsedAt"
         from passkeys where citizen_id = $1 order by created_at`,
        [citizenId],
      );
      return rows;
    },

    /** Options for navigator.credentials.create(), or undefined when the account has its maximum. */
    async registrationOptions(citizen: Citizen) {
      const existing = await credentials(citizen.id);
      if (existing.length >= MAX_PASSKEYS) return undefined;
      const options = await (await webauthn()).generateRegistrationOptions({
        rpName: 'Kediri ID',
        rpID,
        userName: citizen.email ?? citizen.phone ?? citizen.id,
        userDisplayName: citizen.name,
        userID: Buffer.from(citizen.id.replace(/-/g, ''), 'hex'),
        attestationType: 'none',
        excludeCredentials: existing.map(({ id, transports }) => ({ id, transports })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
      });
      await keep(citizen.id, 'register', '', options.challenge);
      return options;
    },

    /**
     * Verifies the browser's answer to the registration options and stores the passkey. Returns
     * false when the answer does not verify, else the recovery codes to show once (if new).
     */
    async register(citizen: Citizen, json: string, name: string, ip: string): Promise<false | { codes: string[] | undefined }> {
      const response = parse(registrationAnswer, json);
      const challenge = await take(citizen.id, 'register', '');
      if (!response || !challenge) return false;
      const verification = await (await webauthn()).verifyRegistrationResponse({
        response: response as RegistrationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpID,
        requireUserVerification: false,
      }).catch(() => undefined);
      if (!verification?.verified) return false;
      const { credential, credentialBackedUp } = verification.registrationInfo;
      return db.transaction(async (tx) => {
        const count = await tx.query<{ n: number }>('select count(*)::int as n from passkeys where citizen_id = $1', [citizen.id]);
        if (count.rows[0]!.n >= MAX_PASSKEYS) return false;
        const stored = await tx.query(
          `insert into passkeys (id, citizen_id, public_key, counter, transports, backed_up, name)
           values ($1, $2, $3, $4, $5, $6, $7) on conflict (id) do nothing`,
          [credential.id, citizen.id, Buffer.from(credential.publicKey).toString('base64url'), credential.counter,
            (credential.transports ?? []).join(','), credentialBackedUp, name || `Kunci sandi ${count.rows[0]!.n + 1}`],
        );
        if (stored.rowCount !== 1) return false;
        return { codes: await secondFactors.added(tx, citizen, 'passkey', ip) };
      });
    },

    /**
     * Options for navigator.credentials.get() with this account's passkeys, for one login (the
     * interaction uid), or undefined when the account has none.
     */
    async authenticationOptions(citizenId: string, login: string) {
      const allowCredentials = (await credentials(citizenId)).map(({ id, transports }) => ({ id, transports }));
      if (allowCredentials.length === 0) return undefined;
      const options = await (await webauthn()).generateAuthenticationOptions({ rpID, allowCredentials, userVerification: 'preferred' });
      await keep(citizenId, 'authenticate', login, options.challenge);
      return options;
    },

    /** Verifies a sign-in answer: the amr method it proves ('hwk' or 'swk'), or undefined. */
    async authenticate(citizenId: string, login: string, json: string): Promise<'hwk' | 'swk' | undefined> {
      const response = parse(authenticationAnswer, json);
      const challenge = await take(citizenId, 'authenticate', login);
      const credential = (await credentials(citizenId)).find((c) => c.id === response?.id);
      if (!response || !challenge || !credential) return undefined;
      const verification = await (await webauthn()).verifyAuthenticationResponse({
        response: response as AuthenticationResponseJSON,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpID,
        credential,
        requireUserVerification: false,
      }).catch(() => undefined);
      if (!verification?.verified) return undefined;
      const { newCounter, credentialBackedUp } = verification.authenticationInfo;
      await db.query(
        'update passkeys set counter = $3, backed_up = $4, last_used_at = now() where id = $1 and citizen_id = $2',
        [credential.id, citizenId, newCounter, credentialBackedUp],
      );
      return credentialBackedUp ? 'swk' : 'hwk';
    },

    async rename(citizenId: string, id: string, name: string): Promise<boolean> {
      const { rowCount } = await db.query('update passkeys set name = $3 where id = $1 and citizen_id = $2', [id, citizenId, name]);
      return rowCount === 1;
    },

    /** Removes a passkey (the caller has checked the password). */
    async remove(citizen: Citizen, id: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const gone = await tx.query('delete from passkeys where id = $1 and citizen_id = $2', [id, citizen.id]);
        if (gone.rowCount !== 1) return false;
        await secondFactors.removed(tx, citizen, 'passkey', ip);
        return true;
      });
    },
  };
}

export type Passkeys = ReturnType<typeof createPasskeys>;
