/**
 * Kediri ID's own areas (the citizen's /akun, the staff's /loket and /admin) sign in with Kediri
 * ID itself, through this first-party client; its redirect lands on the portal sign-in route.
 * (Apart from provider.ts so that services can name it without loading oidc-provider.)
 */
export const PORTAL_CLIENT_ID = 'kediri-id-portal';
export const portalRedirectUri = (issuer: string) => `${issuer}/masuk`;

/** The portal client's registered name (the login pages call it "Akun Kediri ID": login.portal_name). */
export const PORTAL_CLIENT_NAME = 'Kediri ID';
