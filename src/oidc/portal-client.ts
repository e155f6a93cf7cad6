/**
 * Kediri ID's own areas (the citizen's /akun, the staff's /loket and /admin) sign in with Kediri
 * ID itself, through this first-party client; its redirect lands on the portal sign-in route.
 * (Apart from provider.ts so that services can name it without loading oidc-provider.)
 */
export const PORTAL_CLIENT_ID = 'kediri-id-portal';
export const portalRedirectUri = (issuer: string) => `${issuer}/masuk`;

/** How the login pages name the portal: Kediri ID, run by the city's Diskominfo. */
export const PORTAL_CLIENT_NAME = 'Kediri ID';
export const PORTAL_UNIT_NAME = 'Diskominfo';
