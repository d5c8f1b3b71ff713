-- The heartbeat ceiling, the database work of one `running` heartbeat of a running job: the
-- conditional update that refreshes modificationtime and the pilot's metrics and returns what the
-- answer's command field needs. A same-state heartbeat writes no status-log row (states.md §3;
-- apps/jobs/services/pilot_updates.py). cpuconsumptiontime counts the applied heartbeats.
-- Variables: lo, hi (the running jobs' PandaID range).
\set id random(:lo, :hi)
UPDATE jobs
SET modificationtime = now(), cpuconsumptiontime = cpuconsumptiontime + 1,
    modificationhost = 'wn.bench.example.org', maxrss = 1850000, maxpss = 1900000, avgrss = 1500000,
    jobmetrics = 'coreCount=1 nEvents=0 dbTime=0.51 dbData=1048576 workDirSize=204800'
WHERE pandaid = :id AND jobstatus = 'running'
RETURNING attemptnr, commandtopilot, specialhandling;
