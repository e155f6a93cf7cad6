-- Signing-key rotation: every key has a schedule, and its state follows from the time
-- (src/oidc/keys.ts): published from published_at, signing from signing_from, and once a successor
-- signs, still published until retire_at (null until the key is superseded). A retired key keeps
-- its row for the record, but its private key is erased.
alter table signing_keys rename column created_at to published_at;
alter table signing_keys add column signing_from timestamptz;
alter table signing_keys add column retire_at timestamptz;
update signing_keys set signing_from = published_at;
-- Nothing set status 'retired' before this migration; such a row would have no schedule to keep.
delete from signing_keys where status = 'retired';
alter table signing_keys drop column status;
alter table signing_keys alter column signing_from set not null;
alter table signing_keys alter column private_jwk_enc drop not null;
alter table signing_keys add constraint signing_keys_schedule
  check (signing_from >= published_at and (retire_at is null or retire_at > signing_from));
