import type { Context } from 'koa';
import { maskPhone } from '../identity/phone.js';
import { PHONE_CODE_MINUTES, type CodeSent } from '../identity/phone-codes.js';
import { isChannel, type Channel } from '../messaging/outbox.js';

/*
 * What the forms of a code sent to a phone share: registration, the code sign-in, the password
 * reset and the phone change on /akun.
 */

/** The channel a form asked for when it is one offered here, else the first offered. */
export const chosenChannel = (value: string, channels: readonly Channel[]): Channel => (isChannel(value) && channels.includes(value) ? value : channels[0]!);

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

/** The data of a code form: the number (masked) and the channel the code went to, the channels to ask again by, its lifetime, the notice. */
export function codeFormData(ctx: Context, pending: { phone: string; channel: string }, channels: readonly Channel[], waitSeconds = 0) {
  return { phone: maskPhone(pending.phone), channel: pending.channel, channels, codeMinutes: PHONE_CODE_MINUTES, ...codeNotice(ctx, waitSeconds) };
}
