-- v0 -> v1: Passerelle secret encryption state
-- One row per store (scope) whose secret columns are sealed by package secrets: whether they
-- are encrypted, and the IDs of the keys that values may still be sealed with (comma-separated,
-- the newest last). It lets a bridge refuse to start without the keys it needs, and refuse to
-- write plaintext into an encrypted store.
CREATE TABLE passerelle_secrets (
	scope      TEXT    PRIMARY KEY,
	encrypted  BOOLEAN NOT NULL,
	key_ids    TEXT    NOT NULL DEFAULT '',
	updated_at BIGINT  NOT NULL
);
