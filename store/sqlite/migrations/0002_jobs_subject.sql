-- Jobs of one subject run one at a time, oldest first (ClaimJobs): an
-- invitation must not race the deactivation queued after it.
CREATE INDEX jobs_subject ON jobs (subject, id) WHERE state = 'queued';
