-- The same schema as store/sqlite, in PostgreSQL's dialect.
--
-- Keys and the columns filters compare use COLLATE "C": ordering (ORDER BY
-- id, gt/lt filters) is bytewise, as on SQLite, whatever the database's
-- locale, and LIKE 'prefix%' can use the plain btree indexes. *_fold columns
-- hold connector.FoldKey of the value, computed in Go, so that case folding
-- is the same on every backend.
--
-- doc, payload and data are json (kept as sent); emails and onboarding are
-- written only by passbridge and use jsonb.

CREATE TABLE users (
	id             text COLLATE "C" PRIMARY KEY,
	user_name      text NOT NULL,
	user_name_fold text COLLATE "C" NOT NULL UNIQUE,
	external_id    text COLLATE "C" NOT NULL DEFAULT '',
	active         boolean NOT NULL,
	state          text COLLATE "C" NOT NULL DEFAULT '',
	emails         jsonb NOT NULL DEFAULT '[]',
	doc            json,
	onboarding     jsonb NOT NULL,
	seed_requested boolean NOT NULL DEFAULT false,
	mailbox_type   text NOT NULL DEFAULT '',
	version        bigint NOT NULL,
	created        timestamptz NOT NULL,
	modified       timestamptz NOT NULL
);
CREATE INDEX users_external_id ON users (external_id);
CREATE INDEX users_state ON users (state);

CREATE TABLE user_emails (
	user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	value_fold text COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, value_fold)
);
CREATE INDEX user_emails_value ON user_emails (value_fold);

CREATE TABLE groups (
	id                text COLLATE "C" PRIMARY KEY,
	display_name      text NOT NULL,
	display_name_fold text COLLATE "C" NOT NULL UNIQUE,
	external_id       text COLLATE "C" NOT NULL DEFAULT '',
	entra_id          text NOT NULL DEFAULT '',
	doc               json,
	version           bigint NOT NULL,
	created           timestamptz NOT NULL,
	modified          timestamptz NOT NULL
);

CREATE TABLE group_members (
	group_id text COLLATE "C" NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
	user_id  text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	position integer NOT NULL,
	PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members (user_id);

-- The outbox. A job leaves the queue when completed (row deleted) or failed
-- (state 'failed', kept for inspection).
CREATE TABLE jobs (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	kind        text NOT NULL,
	subject     text NOT NULL,
	payload     json,
	attempts    integer NOT NULL DEFAULT 0,
	run_at      timestamptz NOT NULL,
	last_error  text NOT NULL DEFAULT '',
	lease_owner text NOT NULL DEFAULT '',
	lease_until timestamptz,
	state       text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'failed')),
	created     timestamptz NOT NULL
);
CREATE INDEX jobs_claim ON jobs (run_at, id) WHERE state = 'queued';

-- Append-only; identity values are never reused.
CREATE TABLE events (
	id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject text NOT NULL,
	type    text NOT NULL,
	actor   text NOT NULL DEFAULT '',
	at      timestamptz NOT NULL,
	data    json
);
CREATE INDEX events_subject ON events (subject, id);

CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'events are append-only';
END;
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE ON events
	FOR EACH ROW EXECUTE FUNCTION events_append_only();

CREATE TABLE cursors (
	name  text PRIMARY KEY,
	value text NOT NULL
);

CREATE TABLE leases (
	name   text PRIMARY KEY,
	holder text NOT NULL,
	until  timestamptz NOT NULL
);
