-- Per-client settings an administrator decides (src/web/admin/client-settings.ts):
-- the subject type (pairwise per unit by default; public for the clients an admin marks so) and
-- high assurance (the FAPI 2.0 security profile: PAR, private_key_jwt, DPoP-bound tokens).
alter table clients
  add column subject_type text not null default 'pairwise' check (subject_type in ('pairwise', 'public')),
  add column high_assurance boolean not null default false;
