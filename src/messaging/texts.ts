import type { Lang } from '../i18n.js';

// Placeholder until the messaging branch lands its texts (views/locales/*/message.json).
export function codeText(_lang: Lang, _purpose: string, code: string, validMinutes: number): string {
  return `Kediri ID: ${code} adalah kode Anda. Berlaku ${validMinutes} menit. JANGAN BERIKAN kode ini kepada siapa pun, termasuk petugas.`;
}

/** The security notices a citizen gets on the phone when the account has no email (src/identity/citizen-notices.ts). */
export type NoticeKind = 'phone_changed' | 'password_changed' | 'account_locked' | 'registration_attempt';

// Placeholder too: the messaging branch's version replaces it (same signature).
const NOTICES: Record<NoticeKind, Record<Lang, string>> = {
  phone_changed: {
    id: 'Kediri ID: nomor HP akun Anda baru saja diubah. Jika bukan Anda, segera datang ke loket MPP dengan KTP-el.',
    en: 'Kediri ID: the phone number of your account was just changed. If this was not you, visit the MPP counter with your KTP-el.',
  },
  password_changed: {
    id: 'Kediri ID: kata sandi akun Anda baru saja diubah. Jika bukan Anda, segera atur ulang kata sandi atau datang ke loket MPP.',
    en: 'Kediri ID: your account password was just changed. If this was not you, reset it now or visit the MPP counter.',
  },
  account_locked: {
    id: 'Kediri ID: akun Anda dikunci sementara karena terlalu banyak percobaan masuk yang gagal.',
    en: 'Kediri ID: your account was locked for a while after too many failed sign-in attempts.',
  },
  registration_attempt: {
    id: 'Kediri ID: ada yang mencoba mendaftar dengan data Anda. Akun Anda tidak berubah.',
    en: 'Kediri ID: someone tried to register with your details. Your account did not change.',
  },
};

export function noticeText(lang: Lang, kind: NoticeKind): string {
  return NOTICES[kind][lang];
}
