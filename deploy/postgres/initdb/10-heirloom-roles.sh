#!/bin/sh
# Runs once, when PostgreSQL initialises an empty data volume: one login role and its own
# databases per consumer (the app; Temporal), so neither holds the superuser's password.
# Passwords travel as psql variables and are quoted by psql (:'name'), never spliced into SQL.
set -e
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v heirloom_password="$HEIRLOOM_DB_PASSWORD" \
    -v temporal_password="$TEMPORAL_DB_PASSWORD" <<'SQL'
CREATE ROLE heirloom LOGIN PASSWORD :'heirloom_password';
CREATE DATABASE heirloom OWNER heirloom;
CREATE ROLE temporal LOGIN PASSWORD :'temporal_password';
CREATE DATABASE temporal OWNER temporal;
CREATE DATABASE temporal_visibility OWNER temporal;
SQL
