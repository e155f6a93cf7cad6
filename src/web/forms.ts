import type { Context } from 'koa';
import { z } from 'zod';
import { InputError } from '../errors.js';
import { inputErrorMessage, translator } from '../i18n.js';

/** A text field of a posted form: a single string (a repeated field is bad input), trimmed of nothing. */
export const field = (max: number) => z.string().max(max).default('');

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
