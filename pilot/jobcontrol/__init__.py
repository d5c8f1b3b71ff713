"""Job Control: get a job, validate it, heartbeats, the final update, backchannel commands."""
