-- The heartbeat ceiling, the database work of one `running` heartbeat of a running job: the
-- statement apps/jobs/services/pilot_updates.py (_running_heartbeat) sends for the simulated
-- pilots' heartbeat (pilots.py: pilot 3.11's parameter set) — the same columns, values and
-- conditions, and what the answer's command field needs returned. A same-state heartbeat writes
-- no status-log row (states.md §3). cpuconsumptiontime counts the applied heartbeats (the server
-- stores the pilot's counter instead). The constant values are literals here, planned once; the
-- server binds them on every call, so this ceiling is, if anything, slightly flattering to SQL.
-- Variables: lo, hi (the running jobs' PandaID range).
\set id random(:lo, :hi)
UPDATE jobs
SET modificationhost = 'wn0001.bench.example.org', schedulerid = 'harvester-bench', pilotid = '1|PR|3.11.2|7',
    batchid = '1000001', cpuconsumptionunit = 's+AMD EPYC 7B13 2-Core Processor 1-Socket+AVX2',
    cpu_architecture_level = 'x86-64-v3',
    jobmetrics = 'coreCount=1 nEvents=0 dbTime=0.51 dbData=1048576 workDirSize=204800',
    cpuconsumptiontime = cpuconsumptiontime + 1, nevents = 0, actualcorecount = 1,
    maxrss = 1850000, maxvmem = 2900000, maxswap = 0, maxpss = 1900000,
    avgrss = 1500000, avgvmem = 2600000, avgswap = 0, avgpss = 1550000,
    cpuconversion = 1.0, meancorecount = 1.0,
    totrchar = 1024, totwchar = 512, totrbytes = 2048, totwbytes = 1024,
    raterchar = 1024, ratewchar = 512, raterbytes = 2048, ratewbytes = 1024,
    starttime = '2026-01-01 00:00:00', modificationtime = now()
WHERE pandaid = :id AND jobstatus = 'running' AND attemptnr = 1
RETURNING specialhandling, commandtopilot;
