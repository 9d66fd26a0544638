-- The SCIM client (scim.tokens[].name) that created the user, set at the
-- create and never changed: an ownUsersOnly client sees only its own users,
-- and lists narrowed to them are counted and paged in SQL. '' is a user
-- created before this column existed: no owner, so invisible to every
-- ownUsersOnly client (clients with ownUsersOnly false see it as before).
ALTER TABLE users ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
CREATE INDEX users_created_by ON users (created_by, id);
