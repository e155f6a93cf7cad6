-- The channels that refused a message for good (an HTTP 4xx other than 429: a number the channel
-- cannot reach, a template it does not know). The sender (src/messaging/sender.ts) alternates
-- between the configured channels after each failure, except those listed here; when none is
-- left the message is given up.
alter table message_outbox add column refused_channels text[] not null default '{}';

-- The phone code a code message carries (phone_codes.id): a sign-in's amr names the channel that
-- delivered it (sent_channel), which is the other one when the first failed.
alter table message_outbox add column phone_code_id uuid;

-- What a notice tells (src/messaging/texts.ts NoticeKind): each kind has its own daily limit per
-- number, so that notices anyone can cause (a counter's request) never use up a security notice's.
alter table message_outbox add column notice_kind text;
