import { translator, type Lang } from './web/i18n.js';

/**
 * Bad input: carries a code that maps to an Indonesian and an English message (views/locales) and,
 * for forms, the field it concerns. Callers answer it with a 4xx; it never means a server fault.
 */
export class InputError extends Error {
  constructor(
    readonly code: string,
    readonly field?: string,
    detail?: string,
  ) {
    super(detail ?? code);
  }
}

/** The areas of views/locales whose keys are InputError codes. */
const MESSAGE_AREAS = ['nik', 'citizen', 'profile.error', 'developer.error', 'admin.error'];

/** The person-facing message of an InputError's code, if the locales have one. */
export function knownInputErrorMessage(error: InputError, lang: Lang): string | undefined {
  const t = translator(lang);
  for (const area of MESSAGE_AREAS) {
    const key = `${area}.${error.code}`;
    const text = t(key);
    if (text !== key) return text;
  }
  return undefined;
}

/** The person-facing message of an InputError, or its technical detail when it has no message. */
export function inputErrorMessage(error: InputError, lang: Lang): string {
  return knownInputErrorMessage(error, lang) ?? error.message;
}
