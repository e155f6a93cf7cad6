import { Eta } from 'eta';
import { fileURLToPath } from 'node:url';
import { formatWhen, translator } from '../i18n.js';
import type { Email } from './outbox.js';

/**
 * The emails Kediri ID sends: plain text, Bahasa Indonesia first and English second, with no
 * personal data beyond the name the message is addressed to. Each is a template in views/email/,
 * rendered by eta as the pages are: its first line is the subject, the rest after a blank line the
 * body, which ends with views/email/signature.eta. A lifetime an email states (how long a link
 * works, how long a lock lasts) is given by the caller from the value that enforces it.
 */
const eta = new Eta({
  views: fileURLToPath(new URL('../../views/email/', import.meta.url)),
  // Plain text: nothing to escape, and every line break as written.
  autoEscape: false,
  autoTrim: false,
  cache: true,
});

function render(to: string | null, template: string, data: Record<string, unknown>): Email {
  const text = eta.render(template, data);
  const blank = text.indexOf('\n\n');
  return { to, subject: text.slice(0, blank), body: text.slice(blank + 2).trimEnd() };
}

/** A lifetime in both languages: whole days from two days up, else whole hours, else minutes. */
export function lifetime(minutes: number): { id: string; en: string } {
  const [count, id, en] =
    minutes % (24 * 60) === 0 && minutes >= 2 * 24 * 60 ? [minutes / (24 * 60), 'hari', 'day']
    : minutes % 60 === 0 ? [minutes / 60, 'jam', 'hour']
    : [minutes, 'menit', 'minute'];
  return { id: `${count} ${id}`, en: `${count} ${en}${count === 1 ? '' : 's'}` };
}

export function verificationEmail(to: string | null, name: string, link: string, code: string, validMinutes: number): Email {
  return render(to, 'verification', { name, link, code, lifetime: lifetime(validMinutes) });
}

export function passwordResetEmail(to: string | null, name: string, link: string, validMinutes: number): Email {
  return render(to, 'password-reset', { name, link, lifetime: lifetime(validMinutes) });
}

export function passwordChangedEmail(to: string | null, name: string): Email {
  return render(to, 'password-changed', { name });
}

export function registrationAttemptEmail(to: string | null, name: string): Email {
  return render(to, 'registration-attempt', { name });
}

export function accountLockedEmail(to: string | null, name: string, lockoutMinutes: number): Email {
  return render(to, 'account-locked', { name, lifetime: lifetime(lockoutMinutes) });
}

/** A registration never verified: deleted `leftDays` from now, as every one is `afterDays` after it was made. */
export function registrationExpiringEmail(to: string | null, name: string, afterDays: number, leftDays: number): Email {
  return render(to, 'registration-expiring', { name, after: lifetime(afterDays * 24 * 60), left: lifetime(leftDays * 24 * 60) });
}

/** An inactive account: disabled unless the citizen signs in within `leftDays`. */
export function accountInactiveEmail(to: string | null, name: string, leftDays: number): Email {
  return render(to, 'account-inactive', { name, left: lifetime(leftDays * 24 * 60) });
}

export function accountDisabledEmail(to: string | null, name: string): Email {
  return render(to, 'account-disabled', { name });
}

export function recoveryCodeUsedEmail(to: string | null, name: string, left: number): Email {
  return render(to, 'recovery-code-used', { name, left });
}

/** A change to the account's second factors, in the words the email uses for it. */
export type FactorChange = 'totp_added' | 'totp_removed' | 'passkey_added' | 'passkey_removed' | 'recovery_codes_renewed';

const FACTOR_CHANGES: Record<FactorChange, { id: string; en: string }> = {
  totp_added: { id: 'Aplikasi autentikator ditambahkan', en: 'An authenticator app was added' },
  totp_removed: { id: 'Aplikasi autentikator dihapus', en: 'The authenticator app was removed' },
  passkey_added: { id: 'Kunci sandi (passkey) ditambahkan', en: 'A passkey was added' },
  passkey_removed: { id: 'Kunci sandi (passkey) dihapus', en: 'A passkey was removed' },
  recovery_codes_renewed: { id: 'Kode pemulihan baru dibuat', en: 'New recovery codes were made' },
};

export function factorChangedEmail(to: string | null, name: string, change: FactorChange): Email {
  return render(to, 'factor-changed', { name, what: FACTOR_CHANGES[change] });
}

export function emailChangeCodeEmail(to: string | null, name: string, link: string, code: string, validMinutes: number): Email {
  return render(to, 'email-change-code', { name, link, code, lifetime: lifetime(validMinutes) });
}

export function upstreamLinkCodeEmail(to: string | null, name: string, code: string, validMinutes: number): Email {
  return render(to, 'upstream-link-code', { name, code, lifetime: lifetime(validMinutes) });
}

export function emailChangedEmail(to: string | null, name: string): Email {
  return render(to, 'email-changed', { name });
}

export function emailChangeAttemptEmail(to: string | null, name: string): Email {
  return render(to, 'email-change-attempt', { name });
}

/** A unit developer's registration request was decided (or the client's status changed). */
export type RequestDecision = 'approved' | 'rejected' | 'suspended' | 'reactivated';

const DECISIONS: Record<RequestDecision, { id: string; en: string }> = {
  approved: { id: 'disetujui', en: 'approved' },
  rejected: { id: 'ditolak', en: 'rejected' },
  suspended: { id: 'dihentikan sementara', en: 'suspended' },
  reactivated: { id: 'diaktifkan kembali', en: 'reactivated' },
};

export function requestDecisionEmail(to: string | null, name: string, clientName: string, decision: RequestDecision, reason: string | undefined, portalLink: string): Email {
  return render(to, 'request-decision', { name, clientName, what: DECISIONS[decision], reason, portalLink });
}

/** An invitation to a staff role, named in each language as the pages name it (admin.role.*). */
export function staffInvitationEmail(to: string | null, role: string, unitName: string | undefined, link: string, validMinutes: number): Email {
  const roleName = { id: translator('id')(`admin.role.${role}`), en: translator('en')(`admin.role.${role}`) };
  return render(to, 'staff-invitation', { role: roleName, unitName, link, lifetime: lifetime(validMinutes) });
}

export function citizenLockedEmail(to: string | null, name: string): Email {
  return render(to, 'citizen-locked', { name });
}

export function citizenUnlockedEmail(to: string | null, name: string): Email {
  return render(to, 'citizen-unlocked', { name });
}

/** A counter's system asks the citizen to confirm on their own account page (CIBA). */
export function cibaRequestEmail(to: string | null, name: string): Email {
  return render(to, 'ciba-request', { name });
}

/** The account's phone number was replaced, added or removed. */
export function phoneChangedEmail(to: string | null, name: string): Email {
  return render(to, 'phone-changed', { name });
}

/** An officer corrected the account's verified name at the counter; the email is addressed by the new name. */
export function nameCorrectedEmail(to: string | null, name: string): Email {
  return render(to, 'name-corrected', { name });
}

/** A signing key was revoked in an emergency: every unit developer is told what their service must do. */
export function keyRevokedEmail(
  to: string | null,
  name: string,
  revoked: { kid: string; alg: string; at: Date; replacedBy: string | null; sessionsEnded: boolean; jwksUri: string },
): Email {
  return render(to, 'key-revoked', { name, ...revoked, at: { id: formatWhen(revoked.at, 'id'), en: formatWhen(revoked.at, 'en') } });
}
