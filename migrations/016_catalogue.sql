-- The service catalogue (/layanan): each unit's services, online (a relying party: an approved
-- client of the same unit) or in person at the MPP counter, with the assurance level they need.
-- Owned by src/clients/catalogue.ts; the proposals of unit developers by src/clients/catalogue-proposals.ts.
create table catalogue_entries (
  id uuid primary key,
  unit_slug text not null references units (slug),
  name text not null check (char_length(name) between 2 and 100),
  description_id text not null check (char_length(description_id) between 1 and 200),
  description_en text not null check (char_length(description_en) between 1 and 200),
  kind text not null check (kind in ('online', 'counter')),
  -- An online entry's service; a client that is deleted takes its entries with it.
  client_id text references clients (client_id) on delete cascade,
  acr text not null check (acr in ('urn:kediri:acr:basic', 'urn:kediri:acr:verified', 'urn:kediri:acr:verified-mfa')),
  position integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check ((kind = 'online') = (client_id is not null))
);
create index catalogue_entries_unit_idx on catalogue_entries (unit_slug, position);
create index catalogue_entries_client_idx on catalogue_entries (client_id);

-- A unit developer's proposed text for an online entry of one of their clients: a change to an
-- entry (entry_id) or a new entry (entry_id null). Shown only once an administrator approved it.
create table catalogue_proposals (
  id uuid primary key,
  client_id text not null references clients (client_id) on delete cascade,
  entry_id uuid references catalogue_entries (id) on delete cascade,
  name text not null,
  description_id text not null,
  description_en text not null,
  acr text not null,
  status text not null default 'pending' check (status in ('pending', 'approved', 'rejected')),
  reason text,
  submitted_by uuid not null references citizens (id) on delete cascade,
  submitted_at timestamptz not null default now(),
  reviewed_by uuid references citizens (id) on delete set null,
  reviewed_at timestamptz
);
create index catalogue_proposals_pending_idx on catalogue_proposals (submitted_at) where status = 'pending';

-- A unit lists a service once (the import of a file twice adds nothing twice).
create unique index catalogue_entries_name_idx on catalogue_entries (unit_slug, lower(name));
