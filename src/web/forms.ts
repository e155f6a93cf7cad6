import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { inputErrorMessage, translator } from '../i18n.js';

/**
 * A value the page itself puts in a form (a hidden field, a choice, a button): a single string (a
 * repeated field is bad input) of at most `max` characters, trimmed of nothing. Another value is
 * a broken or forged form (400). What a person types is `typed`.
 */
export const field = (max: number) => z.string().max(max).default('');

/**
 * A text a person types: a single string of any length the body holds (the form check reads at
 * most 16 kB: csrf.ts), trimmed of nothing. Its length is the form's own check's to judge, which
 * says what is wrong next to the field and gives the form back with the other values.
 */
export const typed = z.string().default('');

const hasNul = (value: unknown): boolean => (typeof value === 'string' ? value.includes('\u0000') : Array.isArray(value) && value.some(hasNul));

/**
 * Parses a posted form; a body that does not fit the schema at all, or holds a NUL character (no
 * form needs one, and PostgreSQL's text refuses it), is bad input (400).
 */
export function parseForm<T extends z.ZodType>(ctx: Context, schema: T): z.infer<T> {
  const body: unknown = ctx.request.body ?? {};
  if (typeof body === 'object' && body !== null && Object.values(body).some(hasNul)) throw new InputError('form_invalid');
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new InputError('form_invalid');
  return parsed.data;
}

/** Field errors for the error summary and the inline messages, in the page's language. */
export function fieldErrors(ctx: Context, problems: InputError[]): Array<{ field: string; message: string }> {
  return problems.map((problem) => ({ field: problem.field ?? 'form', message: inputErrorMessage(problem, ctx.state.lang) }));
}

export function message(ctx: Context, key: string): string {
  return translator(ctx.state.lang)(key);
}

/** 303 See Other: after a form post, the browser GETs the next page. */
export function seeOther(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}
