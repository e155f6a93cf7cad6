import type { Queryable } from '../db/db.js';
import { InputError } from '../errors.js';
import { emailChangeAttemptEmail, emailChangeCodeEmail, emailChangedEmail } from '../email/messages.js';
import { TOKEN_TTL_MINUTES, type RedeemedToken } from './account-tokens.js';
import { EMAIL, isValidName, type Citizen } from './citizens.js';
import { maskPhone, normalizePhone } from './phone.js';
import type { CodeSent } from './phone-codes.js';
import type { AccountFlowDeps, CodeDelivery } from './registration.js';
import { emailWait } from './throttle.js';

/** The address as the profile form asks for it (the parts of an Indonesian address). */
export interface AddressParts {
  street: string;
  rt: string;
  rw: string;
  kelurahan: string;
  kecamatan: string;
  city: string;
  province: string;
  postal_code: string;
}

const ADDRESS_PARTS = ['street', 'rt', 'rw', 'kelurahan', 'kecamatan', 'city', 'province', 'postal_code'] as const;

/** The OIDC address claim stored in citizens.address (see migrations/002_citizen_identity.sql). */
export interface AddressClaim {
  street_address: string;
  locality: string;
  region: string;
  postal_code: string;
  country: 'ID';
}

export interface ProfileInput {
  /** Empty for a verified identity means unchanged: its form has no name field. */
  name: string;
  address: AddressParts;
}

/** The claim of checked parts: street with RT/RW and kelurahan, kecamatan as locality, kota and province as region. */
export function addressClaim(parts: AddressParts): AddressClaim {
  return {
    street_address: `${parts.street}, RT ${parts.rt}/RW ${parts.rw}, ${parts.kelurahan}`,
    locality: parts.kecamatan,
    region: `${parts.city}, ${parts.province}`,
    postal_code: parts.postal_code,
    country: 'ID',
  };
}

/**
 * The form's parts of a stored claim: addressClaim read backwards (the one-name parts hold no
 * comma). A claim in another shape gives its street and region whole, for the citizen to correct.
 */
export function addressParts(claim: Record<string, string> | null): AddressParts {
  const street = /^(.*), RT (\d{3})\/RW (\d{3}), ([^,]*)$/.exec(claim?.street_address ?? '');
  const region = /^([^,]*), (.*)$/.exec(claim?.region ?? '');
  return {
    street: street?.[1] ?? claim?.street_address ?? '',
    rt: street?.[2] ?? '',
    rw: street?.[3] ?? '',
    kelurahan: street?.[4] ?? '',
    kecamatan: claim?.locality ?? '',
    city: region?.[1] ?? claim?.region ?? '',
    province: region?.[2] ?? '',
    postal_code: claim?.postal_code ?? '',
  };
}

const tidy = (value: string) => value.trim().replace(/\s+/g, ' ');
/** The names of a kelurahan, kecamatan, kota or province: no comma (it separates them in the claim). */
const PLACE = /^[^,]{2,60}$/;
const RT_RW = /^\d{1,3}$/;

/** The address claim of the form's parts: null when every part is empty, else each part checked. */
function checkAddress(raw: AddressParts, problems: InputError[]): AddressClaim | null {
  const parts = Object.fromEntries(ADDRESS_PARTS.map((part) => [part, tidy(raw[part])])) as unknown as AddressParts;
  if (ADDRESS_PARTS.every((part) => parts[part] === '')) return null;
  if (parts.street.length < 3 || parts.street.length > 120) problems.push(new InputError('street_invalid', 'street'));
  for (const part of ['rt', 'rw'] as const) {
    if (!RT_RW.test(parts[part]) || Number(parts[part]) === 0) problems.push(new InputError(`${part}_invalid`, part));
    else parts[part] = parts[part].padStart(3, '0');
  }
  for (const part of ['kelurahan', 'kecamatan', 'city', 'province'] as const) {
    if (!PLACE.test(parts[part])) problems.push(new InputError(`${part}_invalid`, part));
  }
  if (!/^\d{5}$/.test(parts.postal_code)) problems.push(new InputError('postal_code_invalid', 'postal_code'));
  return addressClaim(parts);
}

/**
 * Every problem with a profile edit, each an InputError naming its field, or the edit normalised.
 * The name changes only while the identity is unverified: a verified one is corrected at the counter.
 */
export function checkProfile(citizen: Citizen, input: ProfileInput):
  | { ok: true; profile: { name: string; address: AddressClaim | null } }
  | { ok: false; problems: InputError[] } {
  const problems: InputError[] = [];
  const name = citizen.assurance === 'basic' ? tidy(input.name) : tidy(input.name) || citizen.name;
  if (name !== citizen.name && citizen.assurance !== 'basic') problems.push(new InputError('name_locked', 'name'));
  else if (!isValidName(name)) problems.push(new InputError('name_invalid', 'name'));
  const address = checkAddress(input.address, problems);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, profile: { name, address } };
}

/**
 * The new number of a phone change in E.164 (Indonesian mobile numbers, and those of the
 * configured `foreignPrefixes`); an InputError for the field `phone` otherwise.
 */
export function checkNewPhone(citizen: Citizen, raw: string, foreignPrefixes: readonly string[]): string {
  const phone = normalizePhone(raw.trim(), foreignPrefixes);
  if (!phone) throw new InputError('phone_invalid', 'phone');
  if (phone === citizen.phone && citizen.phone_verified) throw new InputError('phone_unchanged', 'phone');
  return phone;
}

/** The new email of an email change, normalised; an InputError for the field `email` otherwise. */
export function checkNewEmail(citizen: Citizen, raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !EMAIL.test(email)) throw new InputError('email_invalid', 'email');
  if (email === citizen.email?.toLowerCase()) throw new InputError('email_unchanged', 'email');
  return email;
}

/**
 * Profile edits on the account page: name (while unverified) and address, each change audited by
 * field name; the email change, which takes effect only when a code or link sent to the new
 * address proves it; and the phone change, which takes effect only when a code sent to the new
 * number proves it (the counter records a number it checked itself: staff.ts).
 */
export function createProfile({ db, issuer, citizens, tokens, outbox, phoneCodes, notices, audit }: AccountFlowDeps) {
  /** Switches the account to the address a used change_email token proved; the old address is told. */
  async function applyEmailChange(tx: Queryable, { citizenId, newEmail }: RedeemedToken, ip: string): Promise<boolean> {
    const citizen = await citizens.findById(citizenId, tx);
    if (!citizen || !newEmail) return false;
    if (!(await citizens.changeEmail(tx, citizenId, newEmail))) throw new InputError('email_taken', 'code');
    // A reset link mailed to the old address must not open the account any more.
    await tokens.retire(tx, citizenId, 'reset_password');
    await outbox.enqueue(emailChangedEmail(citizen.email, citizen.name), tx);
    await audit({ type: 'email.changed', citizenId, ip }, tx);
    return true;
  }

  return {
    /** Saves a profile edit; returns the names of the fields it changed (none: nothing written). */
    async save(citizenId: string, input: ProfileInput, ip: string):
      Promise<{ ok: true; changed: string[] } | { ok: false; problems: InputError[] }> {
      const citizen = await citizens.findById(citizenId);
      if (!citizen) throw new InputError('account_unknown');
      const checked = checkProfile(citizen, input);
      if (!checked.ok) return checked;
      return db.transaction(async (tx) => {
        // Compared under the row's lock, so that the audit names exactly what this save changed.
        const current = await citizens.profileChanges(tx, citizenId, checked.profile);
        if (!current) throw new InputError('account_unknown');
        // Verified since the form was checked: the name is the counter's to correct.
        if (current.name && current.assurance !== 'basic') throw new InputError('name_locked', 'name');
        const changed = (['name', 'address'] as const).filter((f) => current[f]);
        if (changed.length === 0) return { ok: true, changed };
        await citizens.setProfile(tx, citizenId, checked.profile);
        await audit({ type: 'profile.changed', citizenId, ip, details: { fields: changed } }, tx);
        return { ok: true, changed };
      });
    },

    /**
     * Sends a code and link to the new address (checked with checkNewEmail). When another account
     * holds that address, its holder is told instead and nothing is sent that could complete the
     * change; the caller answers the same either way. Throws InputError('email_change_wait') when
     * an email change was asked for too recently (see emailWait).
     */
    async requestEmailChange(citizen: Citizen, newEmail: string): Promise<void> {
      const holder = await citizens.findByEmail(newEmail);
      await db.transaction(async (tx) => {
        // The per-account email limit of the other emailed codes: no flood of either address.
        if ((await emailWait(tx, citizen.id, 'change_email')) > 0) throw new InputError('email_change_wait', 'email');
        const issued = await tokens.issue(tx, citizen.id, 'change_email', newEmail);
        const link = `${issuer}/akun/email/konfirmasi?token=${encodeURIComponent(issued.token)}`;
        await outbox.enqueue(
          holder ? emailChangeAttemptEmail(holder.email, holder.name) : emailChangeCodeEmail(newEmail, citizen.name, link, issued.code!, TOKEN_TTL_MINUTES.change_email),
          tx,
        );
      });
    },

    /** The address of the account's email change that awaits its code, if any. */
    async pendingEmail(citizenId: string): Promise<string | undefined> {
      return (await tokens.live(db, citizenId, 'change_email'))?.newEmail ?? undefined;
    },

    /** Completes the pending email change with its 6-digit code; false for a wrong, used or expired one. */
    confirmByCode(citizenId: string, code: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const pending = await tokens.live(tx, citizenId, 'change_email');
        const used = pending && (await tokens.claimCode(tx, 'change_email', pending.id, code));
        return used ? applyEmailChange(tx, used, ip) : false;
      });
    },

    /**
     * Sends a code to the new number (checked with checkNewPhone) for a phone change. The answer
     * is the same whether or not another account verified that number: only whoever receives the
     * code learns it, when entering it (confirmPhoneChange).
     */
    requestPhoneChange(citizen: Citizen, phone: string, delivery: CodeDelivery): Promise<CodeSent> {
      return phoneCodes.send({ phone, citizenId: citizen.id, purpose: 'change_phone', ...delivery });
    },

    /**
     * Completes a phone change with the code of `codeId`: in one transaction the code is used, the
     * number becomes the account's, verified, and the account's email (if any) and its former
     * verified number are told. False for a wrong, used or expired code, or one of another
     * account's change. Throws InputError('phone_taken') when the number is another account's
     * verified number; nothing changes then.
     */
    confirmPhoneChange(citizenId: string, codeId: string, code: string, { ip, lang }: Omit<CodeDelivery, 'channel'>): Promise<boolean> {
      return db.transaction(async (tx) => {
        const checked = await phoneCodes.check(codeId, code, 'change_phone', tx);
        if (!checked || checked.citizenId !== citizenId) return false;
        const before = await citizens.lockById(tx, citizenId);
        if (!before) return false;
        if (!(await citizens.setVerifiedPhone(tx, citizenId, checked.phone))) throw new InputError('phone_taken', 'code');
        // A sign-in or reset code sent to the former number must not open the account any more.
        await phoneCodes.retire(citizenId, tx);
        const formerPhone = before.phone_verified && before.phone !== checked.phone ? before.phone : null;
        await notices.send(before, 'phone_changed', tx, { formerPhone, lang });
        await audit({ type: 'phone.changed', citizenId, ip, details: { phone: maskPhone(checked.phone), channel: checked.channel } }, tx);
        return true;
      });
    },

    /**
     * Takes the phone number off the account; only when a verified email remains, which is told,
     * as the number is when it was verified. Throws InputError('phone_none') without a number,
     * InputError('phone_last_contact') when it is the last verified contact.
     */
    async removePhone(citizenId: string, { ip, lang }: Omit<CodeDelivery, 'channel'>): Promise<void> {
      await db.transaction(async (tx) => {
        const before = await citizens.lockById(tx, citizenId);
        if (!before?.phone) throw new InputError('phone_none');
        if (!(await citizens.removePhone(tx, citizenId))) throw new InputError('phone_last_contact');
        await phoneCodes.retire(citizenId, tx);
        await notices.send(before, 'phone_changed', tx, { formerPhone: before.phone_verified ? before.phone : null, lang });
        await audit({ type: 'phone.changed', citizenId, ip, details: { removed: true } }, tx);
      });
    },

    /** Completes an email change by its emailed link; false for a used, retired or expired one. */
    confirmByLink(token: string, ip: string): Promise<boolean> {
      return db.transaction(async (tx) => {
        const used = await tokens.claim(tx, 'change_email', token);
        return used ? applyEmailChange(tx, used, ip) : false;
      });
    },
  };
}

export type Profile = ReturnType<typeof createProfile>;
