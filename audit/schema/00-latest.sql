-- v0 -> v1: Latest revision
CREATE TABLE passerelle_audit (
	id       TEXT   PRIMARY KEY,
	ts       BIGINT NOT NULL,
	actor    TEXT   NOT NULL,
	action   TEXT   NOT NULL,
	network  TEXT   NOT NULL DEFAULT '',
	target   TEXT   NOT NULL DEFAULT '',
	outcome  TEXT   NOT NULL DEFAULT '',
	details  TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX passerelle_audit_ts_idx ON passerelle_audit (ts);
