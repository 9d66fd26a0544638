-- Whether passbridge created the Entra group ('created') or the
-- configuration mapped an existing one ('mapped'): DELETE /Groups deletes
-- only the first. '' is a group not yet mirrored, or mirrored before this
-- column existed, which is treated like a mapped one (never deleted).
ALTER TABLE groups ADD COLUMN entra_origin TEXT NOT NULL DEFAULT '';
