/**
 * +62812****789: enough to tell numbers apart in a log, not to collect them. The same rule as
 * maskPhone in src/identity/phone.ts, kept here because identity/ sends through messaging/ and the
 * folders must not import each other both ways.
 */
export function maskPhone(phone: string): string {
  return phone.length > 9 ? `${phone.slice(0, 6)}${'*'.repeat(phone.length - 9)}${phone.slice(-3)}` : '***';
}
