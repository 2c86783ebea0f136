"""Jobs: the job rows and their state changes, and the settlement of a job whose run is gone."""
