-- Authority (issue 10): passbridge acts only on accounts it invited. The
-- same schema change as store/sqlite/migrations/0004_authority.sql.
--
-- invite_fold is connector.FoldKey of Onboarding.InviteEmail (NULL when
-- unset): one invited address belongs to at most one live user, and the
-- unique index makes concurrent creates unable to both win. guest_id is
-- Onboarding.GuestID, for "which user holds this guest".
ALTER TABLE users ADD COLUMN invite_fold text COLLATE "C";
ALTER TABLE users ADD COLUMN guest_id text COLLATE "C" NOT NULL DEFAULT '';
UPDATE users SET
	invite_fold = NULLIF(lower(onboarding->>'inviteEmail'), ''),
	guest_id = COALESCE(onboarding->>'guestId', '');
-- Users that shared an address before this migration: the oldest keeps it
-- in the index; a later one's next write is refused (ErrAddressTaken) until
-- its address is changed or it is deleted.
UPDATE users u SET invite_fold = NULL
WHERE invite_fold IS NOT NULL
	AND EXISTS (SELECT 1 FROM users o WHERE o.invite_fold = u.invite_fold AND o.id < u.id);
CREATE UNIQUE INDEX users_invite_fold ON users (invite_fold);
CREATE INDEX users_guest_id ON users (guest_id);

-- A guest passbridge invited whose deletion Graph has not confirmed yet
-- (a deleted SCIM user's, a replaced one): ids and a time, no personal data.
CREATE TABLE tombstones (
	guest_id text COLLATE "C" PRIMARY KEY,
	user_id  text COLLATE "C" NOT NULL,
	at       timestamptz NOT NULL
);
CREATE INDEX tombstones_at ON tombstones (at, guest_id);
