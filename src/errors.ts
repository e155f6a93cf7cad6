/**
 * Plain error types, each with the HTTP status it is answered with. They carry codes, never
 * translated text: the pages and the CLI turn a code into words (i18n.ts).
 */

/**
 * Bad input: carries a code that maps to an Indonesian and an English message (views/locales) and,
 * for forms, the field it concerns. It never means a server fault.
 */
export class InputError extends Error {
  readonly status = 400;
  constructor(
    readonly code: string,
    readonly field?: string,
    detail?: string,
  ) {
    super(detail ?? code);
  }
}

/** A form POST without a valid CSRF token; answered with 403 and the form left untouched. */
export class CsrfError extends Error {
  readonly status = 403;
}
