import type { Context } from 'koa';
import { z } from 'zod';
import { InputError, inputErrorMessage } from '../errors.js';
import { translator } from './i18n.js';

/** A text field of a posted form: a single string (a repeated field is bad input), trimmed of nothing. */
export const field = (max: number) => z.string().max(max).default('');

/** Parses a posted form; a body that does not fit the schema at all is bad input (400). */
export function parseForm<T extends z.ZodType>(ctx: Context, schema: T): z.infer<T> {
  const parsed = schema.safeParse(ctx.request.body ?? {});
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
