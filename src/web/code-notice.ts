import type { Context } from 'koa';
import type { CodeSent } from '../identity/phone-codes.js';

/** The query a code form is opened with once a code was asked for: sent, or how long until another may be. */
export function codeNoticeQuery(sent: CodeSent): string {
  return sent.outcome === 'sent' ? 'dikirim=1' : `tunggu=${sent.retryAfterSeconds}`;
}

/**
 * What a code form says above the form: 'sent', or 'wait' with the seconds (given by a resend
 * that was too soon, else read from the query codeNoticeQuery made).
 */
export function codeNotice(ctx: Context, waitSeconds = 0): { notice: 'sent' | 'wait' | undefined; waitSeconds: number } {
  const asked = Number(ctx.query.tunggu);
  const wait = waitSeconds || (Number.isInteger(asked) && asked > 0 && asked <= 86_400 ? asked : 0);
  return { notice: wait > 0 ? 'wait' : ctx.query.dikirim === '1' ? 'sent' : undefined, waitSeconds: wait };
}
