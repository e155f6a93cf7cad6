-- Profile edits on the account page (src/identity/profile.ts).
-- A phone number is verified only at the MPP counter (there is no SMS gateway): a changed one is
-- unverified until then.
alter table citizens add column phone_verified boolean not null default false;

-- An email change is proved by a code or link sent to the new address: the token carries the
-- address it proves, and the change takes effect when it is used.
alter table account_tokens add column new_email text;
alter table account_tokens drop constraint account_tokens_purpose_check;
alter table account_tokens add constraint account_tokens_purpose_check
  check (purpose in ('verify_email', 'reset_password', 'change_email'));
alter table account_tokens add constraint account_tokens_new_email_check
  check ((purpose = 'change_email') = (new_email is not null));
