"""RunPod: the endpoint client, the poll scheduler, exactly-once model runs and their transfer."""
