#!/bin/sh
# Restores /backups/<stamp>/ written by backup.sh over the current databases and S3 data.
# Stop everything that writes first (README "Deploying" > "Backups and restore").
set -eu
stamp=${1:?usage: restore.sh <backup stamp, a folder name under backups/>}
dir=/backups/$stamp
(cd "$dir" && sha256sum -c SHA256SUMS)
for db in heirloom temporal temporal_visibility; do
    pg_restore --clean --if-exists --exit-on-error --dbname="$db" "$dir/$db.dump"
done
find /s3 -mindepth 1 -delete
tar --extract --gzip --xattrs --xattrs-include='user.*' --numeric-owner --same-owner \
    --file="$dir/s3-data.tar.gz" --directory=/s3
echo "restored: backups/$stamp"
