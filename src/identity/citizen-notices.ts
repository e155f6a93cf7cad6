import type { Queryable } from '../db/db.js';
import type { Email, Outbox } from '../email/outbox.js';
import { UNVERIFIED_NOTICE_DAYS, type RetentionPolicy } from '../config.js';
import {
  accountDisabledEmail, accountInactiveEmail, accountLockedEmail, cibaRequestEmail, nameCorrectedEmail, passwordChangedEmail, phoneChangedEmail,
  registrationExpiringEmail,
} from '../email/messages.js';
import type { Lang } from '../i18n.js';
import type { MessageOutbox } from '../messaging/outbox.js';
import { noticeText, type NoticeKind } from '../messaging/texts.js';
import type { Citizen } from './citizens.js';

export type { NoticeKind } from '../messaging/texts.js';

/** Texts of one kind a number gets a day at most (emails are not limited this way). */
export const NOTICES_PER_DAY = 3;

/** Who a notice is for: the account's contacts as they are (or were) when the event happened. */
export type NoticeRecipient = Pick<Citizen, 'name' | 'email' | 'phone' | 'phone_verified'>;

export interface NoticeOptions {
  /**
   * A verified number the account had before this change (a phone change or removal): it is told
   * too, whatever else is, since its holder may be the citizen whose account was taken over.
   */
  formerPhone?: string | null;
  /** The language of the phone text (the request's); emails carry both. */
  lang?: Lang;
}

/**
 * Notices to citizens (password changed, account locked, phone changed, name corrected at the
 * counter, a counter's request to confirm, what the retention job is about to do or did): by email
 * when the account has one, else by WhatsApp (SMS as the fallback) to its verified phone, so
 * that a phone-only citizen hears of them too (a registration never verified: to the number it
 * gave, which its codes went to). Written in the caller's transaction when given,
 * like every outgoing message. This is the one way a security notice reaches a citizen.
 */
export function createCitizenNotices({ outbox, messages, lockoutMinutes, retention }: {
  outbox: Outbox; messages: MessageOutbox; lockoutMinutes: number; retention: RetentionPolicy;
}) {
  const emails: Record<NoticeKind, (to: string, name: string) => Email> = {
    phone_changed: phoneChangedEmail,
    name_corrected: nameCorrectedEmail,
    password_changed: passwordChangedEmail,
    account_locked: (to, name) => accountLockedEmail(to, name, lockoutMinutes),
    ciba_request: cibaRequestEmail,
    registration_expiring: (to, name) => registrationExpiringEmail(to, name, retention.unverifiedDays, UNVERIFIED_NOTICE_DAYS),
    account_inactive: (to, name) => accountInactiveEmail(to, name, retention.inactiveGraceDays),
    account_disabled: accountDisabledEmail,
  };
  /** The days a retention notice states. */
  const days: Partial<Record<NoticeKind, number>> = {
    registration_expiring: UNVERIFIED_NOTICE_DAYS,
    account_inactive: retention.inactiveGraceDays,
  };

  /**
   * A text, unless this number had NOTICES_PER_DAY of this kind already: anyone can cause some
   * notices (wrong passwords lock an account, a counter asks for a confirmation), and each text
   * costs money, so a number gets a few a day at most; by kind, so that one kind never uses up
   * another's (a counter's requests never silence a security notice).
   */
  async function text(to: string, kind: NoticeKind, lang: Lang, on?: Queryable): Promise<void> {
    if ((await messages.noticesTo(to, kind, on)) >= NOTICES_PER_DAY) return;
    await messages.enqueue({ to, channel: 'whatsapp', kind: 'notice', noticeKind: kind, body: noticeText(lang, kind, days[kind]) }, on);
  }

  return {
    async send(citizen: NoticeRecipient, kind: NoticeKind, on?: Queryable, { formerPhone, lang = 'id' }: NoticeOptions = {}): Promise<void> {
      let texted: string | undefined;
      if (citizen.email) await outbox.enqueue(emails[kind](citizen.email, citizen.name), on);
      else if (citizen.phone && (citizen.phone_verified || kind === 'registration_expiring')) await text((texted = citizen.phone), kind, lang, on);
      if (formerPhone && formerPhone !== texted) await text(formerPhone, kind, lang, on);
    },
  };
}

export type CitizenNotices = ReturnType<typeof createCitizenNotices>;
