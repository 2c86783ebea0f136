#!/bin/sh
# Writes /backups/<UTC stamp>/: the three databases (pg_dump custom format) and the S3 gateway's
# data (tar with the extended attributes where the gateway keeps object metadata), with checksums.
# The databases are dumped before the objects, so every object a dumped row names is in the tar.
set -eu
stamp=$(date -u +%Y%m%dT%H%M%SZ)
work=/backups/$stamp.partial
mkdir -p "$work"
for db in heirloom temporal temporal_visibility; do
    pg_dump --format=custom --file="$work/$db.dump" "$db"
done
tar --create --gzip --xattrs --xattrs-include='user.*' --numeric-owner \
    --file="$work/s3-data.tar.gz" --directory=/s3 .
(cd "$work" && sha256sum -- *.dump s3-data.tar.gz > SHA256SUMS)
mv "$work" "/backups/$stamp"
echo "backup written: backups/$stamp"
