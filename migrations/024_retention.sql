-- Retention (src/retention.ts, UU PDP 27/2022): what the job needs to remember about each account,
-- and the lease that lets one process of the instance run the job at a time.

-- When the account was last active: its last login, which the job copies from the audit log's login.succeeded
-- entries on each run (the login itself sends no extra statement), or an administrator's unlock of
-- an account disabled for inactivity; it outlives the audit entries. Null: none yet (created_at counts).
alter table citizens add column last_active_at timestamptz;
-- A registration never verified was told it will be deleted (once).
alter table citizens add column unverified_notice_at timestamptz;
-- An inactive account was warned it will be disabled (once; cleared by a later login).
alter table citizens add column inactivity_warned_at timestamptz;
-- The account was disabled for inactivity (status locked): the login says so and sends the
-- citizen to the MPP counter; an administrator's unlock clears it.
alter table citizens add column disabled_inactive_at timestamptz;

-- One row: the process that holds the retention job until leased_until, and the last run that
-- finished. A process takes the lease with one update (no session-level lock, so that it works
-- behind PgBouncer in transaction mode); a process that dies lets its lease run out.
create table retention_lease (
  id int primary key check (id = 1),
  holder text,
  leased_until timestamptz not null default '-infinity',
  last_success_at timestamptz
);
insert into retention_lease (id) values (1);

-- The audit entries that still hold an IP address or a device, by age: the job takes both off
-- after RETENTION_AUDIT_DEVICE_DAYS without reading every older entry again on each run.
create index audit_events_device_idx on audit_events (at) where ip is not null or details ? 'userAgent';
