-- Phone-first citizens (src/identity/phone.ts, src/identity/phone-codes.ts, src/messaging/):
-- an account may have a phone number instead of an email, verified by a code sent by WhatsApp or
-- SMS; it signs in and recovers with that number too.

-- An account has an email, a phone number, or both.
alter table citizens alter column email drop not null;
alter table citizens add constraint citizens_contact_check check (email is not null or phone is not null);

-- Numbers are stored in E.164 (+628...). Those entered before were checked only loosely: the
-- Indonesian ones of the forms 08..., 628... and +628... are rewritten to E.164; any other stays
-- as it was and is verified again when used.
update citizens set phone = '+62' || substring(regexp_replace(phone, '[^0-9]', '', 'g') from '^(?:62|0)(8[0-9]{8,11})$')
where phone is not null and regexp_replace(phone, '[^0-9]', '', 'g') ~ '^(?:62|0)8[0-9]{8,11}$';

-- A verified number belongs to one account (it signs in). Verified at the counter until now, a
-- number held by two accounts stays verified on the one that verified it last.
update citizens c set phone_verified = false
where phone_verified and exists (
  select 1 from citizens o where o.phone = c.phone and o.phone_verified and o.id <> c.id
    and (o.verified_at, o.id) > (c.verified_at, c.id));
create unique index citizens_verified_phone_idx on citizens (phone) where phone_verified;

-- Codes sent to a phone: only the keyed hash of the code is stored. A code asked for a number that
-- no account holds is recorded too (citizen_id null, never sent), so that the limits per number
-- answer alike whether or not the number is known.
create table phone_codes (
  id uuid primary key,
  phone text not null,
  citizen_id uuid references citizens (id) on delete cascade,
  purpose text not null check (purpose in ('verify_phone', 'sign_in', 'reset_password', 'change_phone')),
  channel text not null check (channel in ('whatsapp', 'sms')),
  code_hash text not null,
  attempts int not null default 0,
  expires_at timestamptz not null,
  consumed_at timestamptz,
  created_at timestamptz not null default now()
);
create index phone_codes_phone_idx on phone_codes (phone, created_at);
create index phone_codes_citizen_idx on phone_codes (citizen_id) where citizen_id is not null;

-- WhatsApp and SMS messages (src/messaging/): written in the transaction of the change they
-- announce, delivered with leases and retries, and through the other channel when the first fails.
-- A code's message is not sent after the code expires (expires_at); rows are deleted a day after
-- they were sent or given up, so that no code is kept longer than needed.
create table message_outbox (
  id bigserial primary key,
  to_phone text not null,
  channel text not null check (channel in ('whatsapp', 'sms')),
  kind text not null check (kind in ('code', 'notice')),
  body text not null,
  code text,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  send_after timestamptz not null default now(),
  attempts int not null default 0,
  sent_at timestamptz,
  sent_channel text check (sent_channel in ('whatsapp', 'sms')),
  failed_at timestamptz,
  last_error text
);
create index message_outbox_due_idx on message_outbox (send_after) where sent_at is null and failed_at is null;
create index message_outbox_created_idx on message_outbox (created_at);
