-- Kiosks (self-service machines and TVs at the MPP): an administrator marks a client as one
-- (src/web/admin/review.ts, audited as client.profile_changed). Only a kiosk may use the device
-- authorization grant (RFC 8628); it gets short-lived tokens and never a refresh token
-- (src/clients/clients.ts findActiveMetadata, src/oidc/provider.ts).
alter table clients add column kiosk boolean not null default false;
