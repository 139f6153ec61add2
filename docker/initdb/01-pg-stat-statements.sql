-- Runs once, when the data volume is created.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
