-- v1 -> v2 on SQLite, run by upgradeSealedSecrets with foreign keys off on its own connection.
-- SQLite cannot drop a CHECK constraint, so the two tables whose key columns had a length check
-- are rebuilt without it (sealed keys are longer than 32 bytes; Go checks the opened length).
-- Running it twice is harmless.
CREATE TABLE whatsmeow_device_v2 (
	jid TEXT PRIMARY KEY,
	lid TEXT,
	facebook_uuid TEXT,

	registration_id BIGINT NOT NULL CHECK ( registration_id >= 0 AND registration_id < 4294967296 ),

	noise_key    bytea NOT NULL,
	identity_key bytea NOT NULL,

	signed_pre_key     bytea   NOT NULL,
	signed_pre_key_id  INTEGER NOT NULL CHECK ( signed_pre_key_id >= 0 AND signed_pre_key_id < 16777216 ),
	signed_pre_key_sig bytea   NOT NULL CHECK ( length(signed_pre_key_sig) = 64 ),

	adv_key             bytea NOT NULL,
	adv_details         bytea NOT NULL,
	adv_account_sig     bytea NOT NULL CHECK ( length(adv_account_sig) = 64 ),
	adv_account_sig_key bytea NOT NULL CHECK ( length(adv_account_sig_key) = 32 ),
	adv_device_sig      bytea NOT NULL CHECK ( length(adv_device_sig) = 64 ),

	platform         TEXT   NOT NULL DEFAULT '',
	business_name    TEXT   NOT NULL DEFAULT '',
	push_name        TEXT   NOT NULL DEFAULT '',
	lid_migration_ts BIGINT NOT NULL DEFAULT 0
);
INSERT INTO whatsmeow_device_v2 SELECT
	jid, lid, facebook_uuid, registration_id, noise_key, identity_key,
	signed_pre_key, signed_pre_key_id, signed_pre_key_sig,
	adv_key, adv_details, adv_account_sig, adv_account_sig_key, adv_device_sig,
	platform, business_name, push_name, lid_migration_ts
FROM whatsmeow_device;
DROP TABLE whatsmeow_device;
ALTER TABLE whatsmeow_device_v2 RENAME TO whatsmeow_device;

CREATE TABLE whatsmeow_pre_keys_v2 (
	our_jid  TEXT    NOT NULL,
	key_id   INTEGER NOT NULL CHECK ( key_id >= 0 AND key_id < 16777216 ),
	key      bytea   NOT NULL,
	uploaded BOOLEAN NOT NULL,

	PRIMARY KEY (our_jid, key_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);
INSERT INTO whatsmeow_pre_keys_v2 SELECT our_jid, key_id, key, uploaded FROM whatsmeow_pre_keys;
DROP TABLE whatsmeow_pre_keys;
ALTER TABLE whatsmeow_pre_keys_v2 RENAME TO whatsmeow_pre_keys;
