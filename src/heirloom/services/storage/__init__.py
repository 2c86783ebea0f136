"""Storage: local disk or S3 behind one interface, and the keys of a job's files."""
