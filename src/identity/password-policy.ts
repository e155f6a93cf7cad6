import { readFileSync } from 'node:fs';

/**
 * Password policy after NIST SP 800-63B (README.md, "Security defaults"): length only, no
 * composition rules, and no password that is common or made of the person's own NIK, birth date or
 * email.
 */
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

export type PasswordProblem =
  | 'password_length'
  | 'password_common'
  | 'password_contains_nik'
  | 'password_contains_birthdate'
  | 'password_contains_email';

export interface PasswordContext {
  nik?: string;
  /** YYYY-MM-DD */
  birthdate?: string;
  email?: string;
}

/** Common passwords, lowercase, one a line; see common-passwords.md for the source. */
const COMMON = new Set(
  readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line !== ''),
);

/** An email local part shorter than this is not looked for inside passwords (too many false hits). */
const MIN_LOCAL_PART = 3;

/** The forms in which people write this birth date: YYYY-MM-DD, DDMMYYYY, DD-MM-YYYY, DD/MM/YYYY, DDMMYY, YYYYMMDD. */
function birthdateForms(birthdate: string): string[] {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(birthdate);
  if (!match) return [];
  const [, yyyy = '', mm = '', dd = ''] = match;
  const yy = yyyy.slice(2);
  return [`${yyyy}-${mm}-${dd}`, `${dd}${mm}${yyyy}`, `${dd}-${mm}-${yyyy}`, `${dd}/${mm}/${yyyy}`, `${dd}${mm}${yy}`, `${yyyy}${mm}${dd}`];
}

/** The first problem with this password for this person, or undefined when it is acceptable. */
export function passwordProblem(password: string, context: PasswordContext = {}): PasswordProblem | undefined {
  // NIST SP 800-63B 5.1.1.2: normalise (NFKC) and count each Unicode code point as one character.
  const normalised = password.normalize('NFKC');
  const length = [...normalised].length;
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) return 'password_length';

  const lower = normalised.toLowerCase();
  if (COMMON.has(lower)) return 'password_common';

  const { nik, birthdate, email } = context;
  if (nik && /^\d{16}$/.test(nik) && lower.includes(nik)) return 'password_contains_nik';
  if (birthdate && birthdateForms(birthdate).some((form) => lower.includes(form))) return 'password_contains_birthdate';

  if (email) {
    const address = email.normalize('NFKC').toLowerCase();
    const at = address.lastIndexOf('@');
    const local = at < 0 ? address : address.slice(0, at);
    if ((at >= 0 && lower.includes(address)) || ([...local].length >= MIN_LOCAL_PART && lower.includes(local))) {
      return 'password_contains_email';
    }
  }
  return undefined;
}
