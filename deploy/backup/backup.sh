#!/bin/sh
# Writes $BACKUP_DIR/<UTC stamp>/: the databases (pg_dump custom format) and the S3 gateway's
# data (tar with the extended attributes where the gateway keeps object metadata), with checksums
# and TAKEN_AT, the time before the first dump began (a restore re-applies the erasures logged
# after it). The databases are dumped before the objects, so every object a dumped row names is
# in the tar. `heirloom backup seal` then encrypts, ships and prunes it (docs/deployment.md).
set -eu
backup_dir=${BACKUP_DIR:-/backups}
s3_dir=${S3_DATA_DIR:-/s3}
databases=${DATABASES:-heirloom temporal temporal_visibility}
stamp=$(date -u +%Y%m%dT%H%M%SZ)
work=$backup_dir/$stamp.partial
mkdir -p "$work"
date -u +%Y-%m-%dT%H:%M:%SZ > "$work/TAKEN_AT"
for db in $databases; do
    pg_dump --format=custom --file="$work/$db.dump" "$db"
done
files=$(cd "$work" && ls -- *.dump)
if [ -d "$s3_dir" ]; then
    tar --create --gzip --xattrs --xattrs-include='user.*' --numeric-owner \
        --file="$work/s3-data.tar.gz" --directory="$s3_dir" .
    files="$files s3-data.tar.gz"
fi
# shellcheck disable=SC2086 # the file names are ours, without spaces
(cd "$work" && sha256sum -- $files TAKEN_AT > SHA256SUMS)
mv "$work" "$backup_dir/$stamp"
# `heirloom backup seal` runs as the app's user (10001 in its image) and replaces the plaintext.
if [ "$(id -u)" = 0 ]; then
    chown -R "${BACKUP_OWNER:-10001:10001}" "$backup_dir/$stamp"
fi
echo "backup written: $backup_dir/$stamp"
