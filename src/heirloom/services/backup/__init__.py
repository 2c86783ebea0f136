"""Backups after deploy/backup/backup.sh has dumped them: sealing (age encryption), shipping
off the host to S3, pruning, and unsealing for a restore."""
