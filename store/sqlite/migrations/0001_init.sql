-- Times are INTEGER unix microseconds, UTC. *_fold columns hold
-- connector.FoldKey of the value: case-insensitive uniqueness and filters
-- without depending on SQLite's ASCII-only NOCASE.

CREATE TABLE users (
	id             TEXT    PRIMARY KEY,
	user_name      TEXT    NOT NULL,
	user_name_fold TEXT    NOT NULL UNIQUE,
	external_id    TEXT    NOT NULL DEFAULT '',
	active         INTEGER NOT NULL,
	state          TEXT    NOT NULL DEFAULT '',
	emails         TEXT    NOT NULL DEFAULT '[]', -- JSON array, as sent
	doc            TEXT,                          -- JSON object, as sent
	onboarding     TEXT    NOT NULL,              -- JSON connector.Onboarding
	seed_requested INTEGER NOT NULL DEFAULT 0,      -- User.SeedRequested
	mailbox_type   TEXT    NOT NULL DEFAULT '',
	version        INTEGER NOT NULL,
	created        INTEGER NOT NULL,
	modified       INTEGER NOT NULL
) STRICT;
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_state ON users (state);

CREATE TABLE user_emails (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	value_fold TEXT NOT NULL,
	PRIMARY KEY (user_id, value_fold)
) STRICT;
CREATE INDEX user_emails_value ON user_emails (value_fold);

CREATE TABLE groups (
	id                TEXT    PRIMARY KEY,
	display_name      TEXT    NOT NULL,
	display_name_fold TEXT    NOT NULL UNIQUE,
	external_id       TEXT    NOT NULL DEFAULT '',
	entra_id          TEXT    NOT NULL DEFAULT '',
	doc               TEXT,
	version           INTEGER NOT NULL,
	created           INTEGER NOT NULL,
	modified          INTEGER NOT NULL
) STRICT;

CREATE TABLE group_members (
	group_id TEXT    NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	user_id  TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	position INTEGER NOT NULL,
	PRIMARY KEY (group_id, user_id)
) STRICT;
CREATE INDEX group_members_user ON group_members (user_id);

-- The outbox. A job leaves the queue when completed (row deleted) or failed
-- (state 'failed', kept for inspection).
CREATE TABLE jobs (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	kind        TEXT    NOT NULL,
	subject     TEXT    NOT NULL,
	payload     TEXT,
	attempts    INTEGER NOT NULL DEFAULT 0,
	run_at      INTEGER NOT NULL,
	last_error  TEXT    NOT NULL DEFAULT '',
	lease_owner TEXT    NOT NULL DEFAULT '',
	lease_until INTEGER,
	state       TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
	created     INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_claim ON jobs (state, run_at, id);

-- Append-only: AUTOINCREMENT so that ids are never reused, which readers
-- paging with afterID rely on.
CREATE TABLE events (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	subject TEXT    NOT NULL,
	type    TEXT    NOT NULL,
	actor   TEXT    NOT NULL DEFAULT '',
	at      INTEGER NOT NULL,
	data    TEXT
) STRICT;
CREATE INDEX events_subject ON events (subject, id);
CREATE TRIGGER events_append_only BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;

CREATE TABLE cursors (
	name  TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT;

CREATE TABLE leases (
	name   TEXT    PRIMARY KEY,
	holder TEXT    NOT NULL,
	until  INTEGER NOT NULL
) STRICT;
