-- The getJob ceiling, the database work of one getJob as one transaction: claim the best activated
-- job of the hot queue (FOR UPDATE SKIP LOCKED, ordered by currentpriority DESC, pandaid), move it
-- to sent, write its status-log row and return it with its parameters (one statement, the shape of
-- apps/jobs/services/dispatch.py), then read its files. Variables: site, node_max.
-- Under SKIP LOCKED a claim can find nothing (its candidate was taken by another session meanwhile);
-- \aset then sets nothing (\gset would abort the client and shrink the ceiling's concurrency), and
-- the files query reads PandaID 0, which has none.
\set node random(1, :node_max)
\set pandaid 0
BEGIN;
WITH candidates AS (
    SELECT pandaid FROM jobs
    WHERE jobstatus = 'activated' AND computingsite = :site
      AND (prodsourcelabel IN ('managed', 'test', 'prod_test', 'install'))
      AND (minramcount <= 16000 OR minramcount = 0) AND (maxdiskcount <= 500000 OR maxdiskcount = 0)
      AND resource_type = 'SCORE'
    ORDER BY currentpriority DESC, pandaid
    LIMIT 1
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE jobs
    SET jobstatus = 'sent', modificationtime = now(), starttime = now(), statechangetime = now(),
        modificationhost = 'wn' || :node, computingelement = :site, jobexecutionid = 0
    FROM candidates
    WHERE jobs.pandaid = candidates.pandaid AND jobs.jobstatus = 'activated'
    RETURNING jobs.*
), logged AS (
    INSERT INTO jobs_statuslog (pandaid, modificationtime, oldstatus, jobstatus, computingsite, prodsourcelabel, reason)
    SELECT pandaid, now(), 'activated', 'sent', computingsite, prodsourcelabel, 'getJob' FROM claimed
)
SELECT claimed.*, jobparamstable.jobparameters
FROM claimed LEFT JOIN jobparamstable ON jobparamstable.pandaid = claimed.pandaid \aset
SELECT * FROM filestable4 WHERE pandaid = :pandaid ORDER BY row_id;
END;
