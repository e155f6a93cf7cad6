import { randomBytes } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Audit } from '../audit/audit.js';
import type { Clock } from '../clock.js';
import type { Outbox } from '../email/outbox.js';
import { factorChangedEmail, recoveryCodeUsedEmail } from '../email/messages.js';
import type { Queryable } from '../db/db.js';
import type { Sealer } from '../secrets.js';
import type { Citizen, CitizenStore } from './citizens.js';

const SECRET = 'totp-secret';
const RECOVERY = 'recovery-code';
const RECOVERY_CODES = 10;
/** One 30-second step of clock drift either way. */
const DRIFT_SECONDS = 30;
/** How long a shown secret may wait for its first code. */
const ENROLMENT_MINUTES = 15;
/** otplib and qrcode are loaded when a second factor is first used, not at every start. */
const otp = () => import('otplib');

/** XXXXX-XXXXX from an alphabet without look-alikes (no 0/O, 1/I/L). */
function newRecoveryCode(): string {
  const alphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
  const chars = [...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join('');
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}
/** The TOTP time step a valid code belongs to (otplib reports it for the TOTP strategy). */
const timeStepOf = (result: object) => ('timeStep' in result ? Number(result.timeStep) : NaN);
const normalise = (code: string) => code.toUpperCase().replace(/[^0-9A-Z]/g, '');
/** A code as typed, without the spaces and dashes apps and printouts put in it ("123 456", "ABCDE-23456"). */
const compact = (typed: string) => typed.replace(/[\s-]/g, '');
const TOTP_CODE = /^\d{6}$/;
const RECOVERY_CODE = /^[0-9A-Z]{10}$/i;

/** A TOTP code as typed: its six digits, or undefined when it is not six digits (malformed, not wrong). */
export function totpCodeOf(typed: string): string | undefined {
  const code = compact(typed);
  return TOTP_CODE.test(code) ? code : undefined;
}

/**
 * A code typed at the second step of a login: a TOTP code (six digits) or a recovery code (ten
 * letters and digits), without spaces and dashes; undefined when it is neither (malformed: it
 * cannot be right, so it is no guess and does not count as a failed sign-in).
 */
export function secondFactorCodeOf(typed: string): { kind: 'totp' | 'recovery'; code: string } | undefined {
  const code = compact(typed);
  if (TOTP_CODE.test(code)) return { kind: 'totp', code };
  if (RECOVERY_CODE.test(code)) return { kind: 'recovery', code };
  return undefined;
}

/** The second factors an account has; recovery codes come with the first one and go with the last. */
export interface FactorSummary {
  totp: boolean;
  passkeys: number;
  recoveryCodesLeft: number;
}

/**
 * Whether a login of the account with this id (an SQL expression) needs a second step: a
 * confirmed TOTP app or a passkey. An SQL expression, so that the login's read of the account
 * (citizens.loginSubject) answers it too.
 */
export const SECOND_FACTOR_REQUIRED = (citizenId: string) =>
  `(exists (select 1 from totp_factors where citizen_id = ${citizenId} and confirmed_at is not null)
    or exists (select 1 from passkeys where citizen_id = ${citizenId}))`;

/**
 * Second factors: a TOTP app (otplib; the secret sealed at rest; each code accepted once, with one
 * step of drift), passkeys (identity/passkeys.ts), and ten single-use recovery codes (keyed hashes;
 * shown once; a use is audited and emailed). Every change is audited and emailed.
 */
export function createSecondFactors(db: Db, sealer: Sealer, citizens: CitizenStore, outbox: Outbox, audit: Audit, clock: Clock) {
  /** The TOTP time is the clock's, in seconds. */
  const epoch = () => Math.floor(clock.now() / 1000);

  const hashRecovery = (citizenId: string, code: string) => sealer.keyedHash(RECOVERY, `${citizenId}:${normalise(code)}`);

  async function summary(citizenId: string, on: Queryable = db): Promise<FactorSummary> {
    const { rows } = await on.query<FactorSummary>(
      `select exists (select 1 from totp_factors where citizen_id = $1 and confirmed_at is not null) as totp,
              (select count(*)::int from passkeys where citizen_id = $1) as passkeys,
              (select count(*)::int from recovery_codes where citizen_id = $1 and used_at is null) as "recoveryCodesLeft"`,
      [citizenId],
    );
    return rows[0]!;
  }

  /** Changes to the factors of one account, one after the other: each sees what the last one left. */
  async function lockAccount(tx: Queryable, citizenId: string): Promise<void> {
    await citizens.lockById(tx, citizenId);
  }

  async function issueRecoveryCodes(tx: Queryable, citizenId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    await tx.query('delete from recovery_codes where citizen_id = $1', [citizenId]);
    await tx.query('insert into recovery_codes (citizen_id, code_hash) select $1, unnest($2::text[])', [
      citizenId,
      codes.map((c) => hashRecovery(citizenId, c)),
    ]);
    return codes;
  }

  /**
   * Records a factor just added (inside the transaction that added it): audited and emailed.
   * Returns new recovery codes to show once when the account had none left (its first factor).
   */
  async function added(tx: Queryable, citizen: Citizen, factor: 'totp' | 'passkey', ip: string): Promise<string[] | undefined> {
    await lockAccount(tx, citizen.id);
    const codes = (await summary(citizen.id, tx)).recoveryCodesLeft === 0 ? await issueRecoveryCodes(tx, citizen.id) : undefined;
    await audit({ type: 'factor.added', citizenId: citizen.id, ip, details: { factor, recoveryCodes: codes?.length ?? 0 } }, tx);
    await outbox.enqueue(factorChangedEmail(citizen.email, citizen.name, `${factor}_added`), tx);
    return codes;
  }

  /** Records a factor just removed: audited and emailed; the recovery codes go with the last one. */
  async function removed(tx: Queryable, citizen: Citizen, factor: 'totp' | 'passkey', ip: string): Promise<void> {
    await lockAccount(tx, citizen.id);
    const left = await summary(citizen.id, tx);
    if (!left.totp && left.passkeys === 0) await tx.query('delete from recovery_codes where citizen_id = $1', [citizen.id]);
    await audit({ type: 'factor.removed', citizenId: citizen.id, ip, details: { factor } }, tx);
    await outbox.enqueue(factorChangedEmail(citizen.email, citizen.name, `${factor}_removed`), tx);
  }

  return {
    summary,
    added,
    removed,

    /** Whether a login of this account needs a second step (as SECOND_FACTOR_REQUIRED says). */
    async required(citizenId: string): Promise<boolean> {
      const { rows } = await db.query<{ required: boolean }>(`select ${SECOND_FACTOR_REQUIRED('$1::uuid')} as required`, [citizenId]);
      return rows[0]!.required;
    },

    /** Removes the TOTP app (the caller has checked the password); it can be enrolled again. */
    async removeTotp(citizen: Citizen, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const gone = await tx.query('delete from totp_factors where citizen_id = $1 and confirmed_at is not null', [citizen.id]);
        if (gone.rowCount !== 1) return false;
        await removed(tx, citizen, 'totp', ip);
        return true;
      });
    },

    /** Ten new recovery codes in place of the old ones, for an account with a second factor. */
    async renewRecoveryCodes(citizen: Citizen, ip: string): Promise<string[] | undefined> {
      return db.transaction(async (tx) => {
        const factors = await summary(citizen.id, tx);
        if (!factors.totp && factors.passkeys === 0) return undefined;
        const codes = await issueRecoveryCodes(tx, citizen.id);
        await audit({ type: 'recovery_codes.renewed', citizenId: citizen.id, ip }, tx);
        await outbox.enqueue(factorChangedEmail(citizen.email, citizen.name, 'recovery_codes_renewed'), tx);
        return codes;
      });
    },

    /**
     * The secret being enrolled (kept for a while until confirmed, so that a reload shows the same
     * one; after that a new one, so that a secret seen on a shared screen goes stale), with its
     * otpauth URI (for a link that opens the app on the same phone) and that URI as an SVG QR code
     * rendered here, by no outside service. The URI carries the secret: pages only, never logs.
     */
    async enrolment(citizen: Citizen): Promise<{ secret: string; uri: string; qrSvg: string } | undefined> {
      const existing = await db.query<{ secret_enc: string; confirmed: boolean; fresh: boolean }>(
        `select secret_enc, confirmed_at is not null as confirmed, created_at > now() - make_interval(mins => ${ENROLMENT_MINUTES}) as fresh
         from totp_factors where citizen_id = $1`,
        [citizen.id],
      );
      if (existing.rows[0]?.confirmed) return undefined;
      const [{ generateSecret, generateURI }, { default: QRCode }] = await Promise.all([otp(), import('qrcode')]);
      let secret = existing.rows[0]?.fresh ? sealer.open(SECRET, existing.rows[0].secret_enc) : undefined;
      if (!secret) {
        secret = generateSecret();
        await db.query(
          `insert into totp_factors (citizen_id, secret_enc) values ($1, $2)
           on conflict (citizen_id) do update set secret_enc = excluded.secret_enc, created_at = now() where totp_factors.confirmed_at is null`,
          [citizen.id, sealer.seal(SECRET, secret)],
        );
      }
      const uri = generateURI({ issuer: 'Kediri ID', label: citizen.email ?? citizen.phone ?? citizen.name, secret });
      return { secret, uri, qrSvg: await QRCode.toString(uri, { type: 'svg', margin: 2 }) };
    },

    /**
     * Confirms the enrolment with a first code (totpCodeOf): false when the code is wrong, else the new recovery
     * codes to show once (none when the account already holds codes from another factor).
     */
    async confirm(citizen: Citizen, code: string, ip: string): Promise<false | { codes: string[] | undefined }> {
      const citizenId = citizen.id;
      const pending = await db.query<{ secret_enc: string }>(
        `select secret_enc from totp_factors
         where citizen_id = $1 and confirmed_at is null and created_at > now() - make_interval(mins => ${ENROLMENT_MINUTES})`,
        [citizenId],
      );
      const secretEnc = pending.rows[0]?.secret_enc;
      if (!secretEnc || !TOTP_CODE.test(code)) return false;
      const result = await (await otp()).verify({ secret: sealer.open(SECRET, secretEnc), token: code, epoch: epoch(), epochTolerance: DRIFT_SECONDS });
      if (!result.valid) return false;
      return db.transaction(async (tx) => {
        const confirmed = await tx.query(
          'update totp_factors set confirmed_at = now(), last_time_step = $2 where citizen_id = $1 and confirmed_at is null and secret_enc = $3',
          [citizenId, timeStepOf(result), secretEnc],
        );
        if (confirmed.rowCount !== 1) return false;
        return { codes: await added(tx, citizen, 'totp', ip) };
      });
    },

    /** A TOTP code at login (secondFactorCodeOf): valid, and of a later time step than any used before (no replay). */
    async verifyTotp(citizenId: string, code: string): Promise<boolean> {
      const { rows } = await db.query<{ secret_enc: string; last_time_step: string | number }>(
        'select secret_enc, last_time_step from totp_factors where citizen_id = $1 and confirmed_at is not null',
        [citizenId],
      );
      const factor = rows[0];
      if (!factor || !TOTP_CODE.test(code)) return false;
      const result = await (await otp()).verify({
        secret: sealer.open(SECRET, factor.secret_enc),
        token: code,
        epoch: epoch(),
        epochTolerance: DRIFT_SECONDS,
        afterTimeStep: Number(factor.last_time_step),
      });
      if (!result.valid) return false;
      const used = await db.query(
        'update totp_factors set last_time_step = $2 where citizen_id = $1 and last_time_step < $2',
        [citizenId, timeStepOf(result)],
      );
      return used.rowCount === 1;
    },

    /** A recovery code at login: accepted once; its use is audited and the citizen is emailed. */
    async useRecoveryCode(citizen: Citizen, code: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const used = await tx.query(
          'update recovery_codes set used_at = now() where citizen_id = $1 and code_hash = $2 and used_at is null',
          [citizen.id, hashRecovery(citizen.id, code)],
        );
        if (used.rowCount !== 1) return false;
        const { rows } = await tx.query<{ left: number }>(
          'select count(*)::int as left from recovery_codes where citizen_id = $1 and used_at is null',
          [citizen.id],
        );
        await audit({ type: 'recovery_code.used', citizenId: citizen.id, ip, details: { left: rows[0]!.left } }, tx);
        await outbox.enqueue(recoveryCodeUsedEmail(citizen.email, citizen.name, rows[0]!.left), tx);
        return true;
      });
    },
  };
}

export type SecondFactors = ReturnType<typeof createSecondFactors>;
