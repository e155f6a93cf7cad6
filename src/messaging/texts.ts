import type { Lang } from '../i18n.js';

// Placeholder until the messaging branch lands its texts (views/locales/*/message.json).
export function codeText(_lang: Lang, _purpose: string, code: string, validMinutes: number): string {
  return `Kediri ID: ${code} adalah kode Anda. Berlaku ${validMinutes} menit. JANGAN BERIKAN kode ini kepada siapa pun, termasuk petugas.`;
}
