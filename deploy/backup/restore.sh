#!/bin/sh
# Restores $BACKUP_DIR/<stamp>/ written by backup.sh (decrypted by `heirloom backup unseal` if it
# was sealed) over the current databases and S3 data. Stop everything that writes first
# (docs/deployment.md "Backups and restore").
#
# The erasure log survives the restore: its rows are saved before the heirloom database is
# replaced and put back after, so `heirloom erasures reapply --since <TAKEN_AT>` erases again
# every account erased after the backup. ERASURE_LOG names a CSV (user_id,erased_at) to add, for
# when the old database is gone.
set -eu
stamp=${1:?usage: restore.sh <backup stamp, a folder name under the backup directory>}
backup_dir=${BACKUP_DIR:-/backups}
s3_dir=${S3_DATA_DIR:-/s3}
databases=${DATABASES:-heirloom temporal temporal_visibility}
app_db=${APP_DATABASE:-heirloom}
dir=$backup_dir/$stamp
(cd "$dir" && sha256sum -c SHA256SUMS)
saved=$(mktemp)
trap 'rm -f "$saved"' EXIT
if psql -X -q -v ON_ERROR_STOP=1 -d "$app_db" -c "SELECT 1 FROM erasure_log LIMIT 1" >/dev/null 2>&1; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$app_db" \
        -c "\\copy (SELECT user_id, erased_at FROM erasure_log) TO '$saved' WITH (FORMAT csv)"
fi
if [ -n "${ERASURE_LOG:-}" ]; then
    cat "$ERASURE_LOG" >> "$saved"
fi
for db in $databases; do
    pg_restore --clean --if-exists --exit-on-error --dbname="$db" "$dir/$db.dump"
done
# A copy stays beside the backup in any case (the log holds user ids and times only).
cp "$saved" "$dir/erasure-log-at-restore.csv"
if [ -s "$saved" ] && ! psql -X -q -v ON_ERROR_STOP=1 -d "$app_db" <<SQL
CREATE TEMPORARY TABLE erasure_log_saved (user_id varchar(32), erased_at timestamptz);
\\copy erasure_log_saved FROM '$saved' WITH (FORMAT csv)
INSERT INTO erasure_log (user_id, erased_at)
    SELECT user_id, min(erased_at) FROM erasure_log_saved GROUP BY user_id
    ON CONFLICT (user_id) DO NOTHING;
SQL
then
    # A backup from before the erasure log existed: migrate, then restore.sh's copy goes in
    # with ERASURE_LOG on a second run, or by hand.
    echo "could not put the erasure log back; it is in $dir/erasure-log-at-restore.csv" >&2
    exit 1
fi
if [ -f "$dir/s3-data.tar.gz" ]; then
    find "$s3_dir" -mindepth 1 -delete
    tar --extract --gzip --xattrs --xattrs-include='user.*' --numeric-owner --same-owner \
        --file="$dir/s3-data.tar.gz" --directory="$s3_dir"
fi
echo "restored: $dir"
echo "now erase again who was erased after it: heirloom erasures reapply --since $(cat "$dir/TAKEN_AT")"
