import { describe, expect, test } from '@jest/globals';
import { ACR, acrForLogin, passwordlessMeets } from '../../src/identity/assurance.js';

const basic = { assurance: 'basic' as const };
const verified = { assurance: 'verified' as const };

describe('the acr of a login, decided by its amr', () => {
  test('the password reaches what the account reaches; a second factor besides reaches verified-mfa', () => {
    expect(acrForLogin(undefined, basic, ['pwd', 'otp'])).toBe(ACR.basic);
    expect(acrForLogin(undefined, verified, ['pwd'])).toBe(ACR.verified);
    expect(acrForLogin(undefined, verified, ['pwd', 'hwk'])).toBe(ACR.verifiedMfa);
    expect(acrForLogin(ACR.verifiedMfa, verified, ['pwd'])).toBeUndefined();
    expect(acrForLogin(`${ACR.verifiedMfa} ${ACR.verified}`, verified, ['pwd'])).toBe(ACR.verified);
  });

  test('a code sent to the phone reaches basic only, whatever the account and whatever else was used', () => {
    for (const amr of [['sms'], ['whatsapp'], ['sms', 'otp'], ['whatsapp', 'hwk']]) {
      expect(acrForLogin(undefined, verified, amr)).toBe(ACR.basic);
      expect(acrForLogin(ACR.verified, verified, amr)).toBeUndefined();
      expect(acrForLogin(ACR.verifiedMfa, verified, amr)).toBeUndefined();
      expect(acrForLogin(`${ACR.verifiedMfa} ${ACR.basic}`, verified, amr)).toBe(ACR.basic);
    }
  });

  test('a login without the password is offered only when no level above basic is required', () => {
    expect(passwordlessMeets(undefined, 'sms')).toBe(true);
    expect(passwordlessMeets('', 'sms')).toBe(true);
    expect(passwordlessMeets(ACR.basic, 'whatsapp')).toBe(true);
    expect(passwordlessMeets(`${ACR.verified} ${ACR.basic}`, 'sms')).toBe(true);
    expect(passwordlessMeets(ACR.verified, 'sms')).toBe(false);
    expect(passwordlessMeets(ACR.verifiedMfa, 'whatsapp')).toBe(false);
  });
});
