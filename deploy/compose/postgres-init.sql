-- Run by the postgres image on an empty data directory (docker-entrypoint-initdb.d), as
-- POSTGRES_USER: one database per service, since each owns its schema and migrations.
CREATE DATABASE auth;
CREATE DATABASE runtime;
