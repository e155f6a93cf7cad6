import { typedNik } from './nik.js';

/**
 * Phone numbers. A citizen types an Indonesian mobile number as 08..., 628... or +628..., with
 * spaces, dashes, dots or brackets; it is stored in E.164 (+628...). Indonesian mobile numbers
 * have 9 to 12 digits after the country code, the first an 8. Numbers of other countries are
 * refused unless their calling code is configured (PHONE_FOREIGN_PREFIXES, e.g. "+60,+65").
 */
const SEPARATORS = /[\s\-.()]/g;
const INDONESIAN_MOBILE = /^(?:\+62|62|0)(8\d{8,11})$/;
const E164 = /^\+[1-9]\d{7,14}$/;

/** The number in E.164, or undefined when it is not a mobile number we send codes to. */
export function normalizePhone(input: string, foreignPrefixes: readonly string[] = []): string | undefined {
  const compact = input.replace(SEPARATORS, '');
  const indonesian = INDONESIAN_MOBILE.exec(compact);
  if (indonesian) return `+62${indonesian[1]}`;
  if (E164.test(compact) && !compact.startsWith('+62') && foreignPrefixes.some((prefix) => compact.startsWith(prefix))) return compact;
  return undefined;
}

/**
 * Whether what someone typed as a login identifier looks like a phone number: not an email, and not
 * a NIK (16 digits, also typed in the KTP-el's groups).
 */
export const looksLikePhone = (identifier: string) => /^\+?[\d\s\-.()]{8,20}$/.test(identifier.trim()) && !typedNik(identifier);

export { maskPhone } from '../messaging/mask.js';
