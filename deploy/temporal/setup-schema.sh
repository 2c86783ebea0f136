#!/bin/sh
# Creates Temporal's schemas on first start and applies new schema versions after an upgrade.
# Safe to repeat: `setup-schema -v 0.0` only initialises an empty database and `update-schema`
# applies the versions not applied yet (Temporal's former auto-setup image ran both on every start).
# The databases and the `temporal` role come from deploy/postgres/initdb; SQL_PASSWORD is its password.
set -eu
schema_root=/etc/temporal/schema/postgresql/v12
for pair in temporal:temporal temporal_visibility:visibility; do
    db=${pair%%:*}
    dir=${pair#*:}
    temporal-sql-tool --plugin postgres12 --ep postgresql -u temporal -p 5432 --db "$db" \
        setup-schema -v 0.0
    temporal-sql-tool --plugin postgres12 --ep postgresql -u temporal -p 5432 --db "$db" \
        update-schema -d "$schema_root/$dir/versioned"
done
