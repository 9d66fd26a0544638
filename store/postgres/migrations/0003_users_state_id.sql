-- Reconcile sweeps page through the users in managed states by id
-- (state IN (...) AND id > $n): counting them is an index-only range scan.
CREATE INDEX users_state_id ON users (state, id);
DROP INDEX users_state;
