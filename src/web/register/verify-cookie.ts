import type { Context } from 'koa';
import { maskEmail } from '../../email/sender.js';
import type { Citizen } from '../../identity/citizens.js';
import { maskPhone } from '../../identity/phone.js';
import type { CodeSent } from '../../identity/phone-codes.js';
import type { Channel } from '../../messaging/outbox.js';
import { hasFields, jsonCookie } from '../json-cookie.js';

/**
 * What the browser that registered (or signed in before verifying) needs for the code form: the
 * code went to the phone (phoneCodeId, maskedPhone, channel), to the email (tokenId, maskedEmail),
 * or to both (an account registered with both: either code verifies); the fields of a contact
 * that got no code are ''.
 */
export interface PendingVerification {
  citizenId: string;
  /** The email verification token whose code the form accepts. */
  tokenId: string;
  /** The masked email the code went to. */
  maskedEmail: string;
  /** The phone code the form accepts ('' while a limit held it back). */
  phoneCodeId: string;
  /** The masked number the code went to. */
  maskedPhone: string;
  /** whatsapp or sms. */
  channel: string;
  /** Where to continue after verifying: an interaction page, or ''. */
  continueTo: string;
  /** The client of that sign-in, for the way back to it once the sign-in has expired ('' or absent: none). */
  clientId?: string;
}

/** A day long: the lifetime of the emailed code (a phone code lives minutes, and can be sent again). */
export const pendingVerification = jsonCookie('kid.verify', 24 * 3600 * 1000, (v): v is PendingVerification =>
  hasFields(v, { citizenId: 'string', tokenId: 'string', maskedEmail: 'string', phoneCodeId: 'string', maskedPhone: 'string', channel: 'string', continueTo: 'string' }),
);

/** Only an interaction page of this server is a place to continue to (no open redirect). */
export function continuePath(value: unknown): string {
  return typeof value === 'string' && /^\/interaction\/[A-Za-z0-9_-]{1,64}$/.test(value) ? value : '';
}

/**
 * Remembers, for the code form, the codes just sent to verify the account: to the phone (or held
 * back by a limit), to the email, or both. The form speaks of the phone when there is one. After
 * verifying, the citizen continues to `continueTo`, the sign-in under way, or to its client's.
 */
export function rememberVerification(
  ctx: Context,
  citizen: Pick<Citizen, 'id' | 'email' | 'phone'>,
  sent: { tokenId?: string; phoneCode?: CodeSent; channel: Channel },
  continueTo: string,
  clientId = '',
): void {
  const byPhone = sent.phoneCode !== undefined && citizen.phone !== null;
  pendingVerification.set(ctx, {
    citizenId: citizen.id,
    tokenId: sent.tokenId ?? '',
    maskedEmail: sent.tokenId && citizen.email ? maskEmail(citizen.email) : '',
    phoneCodeId: (sent.phoneCode?.outcome !== 'refused' && sent.phoneCode?.codeId) || '',
    maskedPhone: byPhone ? maskPhone(citizen.phone!) : '',
    channel: byPhone ? sent.channel : '',
    continueTo,
    clientId,
  });
}
