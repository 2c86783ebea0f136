"""Events: the job event log, the change feed that streams read, and webhook deliveries."""
