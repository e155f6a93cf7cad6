import { lifetime } from '../email/messages.js';
import { translator, type Lang } from '../i18n.js';

/**
 * The texts of WhatsApp and SMS messages (views/locales/<lang>/message.json): each names Kediri ID,
 * fits one SMS (160 characters of the GSM-7 alphabet, so no accents or emoji), and a code's text
 * warns never to give the code to anyone. The WhatsApp templates carry the code alone (a code) or
 * the whole text (a notice).
 */
export type CodePurpose = 'verify_phone' | 'sign_in' | 'reset_password' | 'change_phone' | 'link_upstream';
export type NoticeKind = 'phone_changed' | 'name_corrected' | 'password_changed' | 'account_locked' | 'ciba_request'
  | 'registration_expiring' | 'account_inactive' | 'account_disabled';

/** A one-time code's message; the lifetime it states is the one the caller enforces. */
export function codeText(lang: Lang, purpose: CodePurpose, code: string, validMinutes: number): string {
  return translator(lang)(`message.code.${purpose}`, { code, lifetime: lifetime(validMinutes)[lang] });
}

/** A notice's message; `days` is what the retention notices state (days left), from the setting that enforces it. */
export function noticeText(lang: Lang, kind: NoticeKind, days?: number): string {
  return translator(lang)(`message.notice.${kind}`, days === undefined ? {} : { days: String(days) });
}
