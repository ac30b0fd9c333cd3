-- v0 -> v1: Passerelle whatsmeow device store
-- One row per paired WhatsApp device (the bridge's linked companion device).
CREATE TABLE whatsmeow_device (
	jid TEXT PRIMARY KEY,
	lid TEXT,
	facebook_uuid TEXT,

	registration_id BIGINT NOT NULL CHECK ( registration_id >= 0 AND registration_id < 4294967296 ),

	noise_key    bytea NOT NULL CHECK ( length(noise_key) = 32 ),
	identity_key bytea NOT NULL CHECK ( length(identity_key) = 32 ),

	signed_pre_key     bytea   NOT NULL CHECK ( length(signed_pre_key) = 32 ),
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

CREATE TABLE whatsmeow_identity_keys (
	our_jid  TEXT  NOT NULL,
	their_id TEXT  NOT NULL,
	identity bytea NOT NULL CHECK ( length(identity) = 32 ),

	PRIMARY KEY (our_jid, their_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_sessions (
	our_jid  TEXT  NOT NULL,
	their_id TEXT  NOT NULL,
	session  bytea NOT NULL,

	PRIMARY KEY (our_jid, their_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_pre_keys (
	our_jid  TEXT    NOT NULL,
	key_id   INTEGER NOT NULL CHECK ( key_id >= 0 AND key_id < 16777216 ),
	key      bytea   NOT NULL CHECK ( length(key) = 32 ),
	uploaded BOOLEAN NOT NULL,

	PRIMARY KEY (our_jid, key_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_sender_keys (
	our_jid    TEXT  NOT NULL,
	chat_id    TEXT  NOT NULL,
	sender_id  TEXT  NOT NULL,
	sender_key bytea NOT NULL,

	PRIMARY KEY (our_jid, chat_id, sender_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_app_state_sync_keys (
	our_jid     TEXT   NOT NULL,
	key_id      bytea  NOT NULL,
	key_data    bytea  NOT NULL,
	timestamp   BIGINT NOT NULL,
	fingerprint bytea  NOT NULL,

	PRIMARY KEY (our_jid, key_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_app_state_version (
	our_jid TEXT   NOT NULL,
	name    TEXT   NOT NULL,
	version BIGINT NOT NULL,
	hash    bytea  NOT NULL CHECK ( length(hash) = 128 ),

	PRIMARY KEY (our_jid, name),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_app_state_mutation_macs (
	our_jid   TEXT   NOT NULL,
	name      TEXT   NOT NULL,
	version   BIGINT NOT NULL,
	index_mac bytea  NOT NULL CHECK ( length(index_mac) = 32 ),
	value_mac bytea  NOT NULL CHECK ( length(value_mac) = 32 ),

	PRIMARY KEY (our_jid, name, version, index_mac),
	FOREIGN KEY (our_jid, name) REFERENCES whatsmeow_app_state_version(our_jid, name) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX whatsmeow_app_state_mutation_macs_index_idx ON whatsmeow_app_state_mutation_macs (our_jid, name, index_mac);

CREATE TABLE whatsmeow_contacts (
	our_jid        TEXT NOT NULL,
	their_jid      TEXT NOT NULL,
	first_name     TEXT,
	full_name      TEXT,
	push_name      TEXT,
	business_name  TEXT,
	redacted_phone TEXT,

	PRIMARY KEY (our_jid, their_jid),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_chat_settings (
	our_jid     TEXT    NOT NULL,
	chat_jid    TEXT    NOT NULL,
	muted_until BIGINT  NOT NULL DEFAULT 0,
	pinned      BOOLEAN NOT NULL DEFAULT false,
	archived    BOOLEAN NOT NULL DEFAULT false,

	PRIMARY KEY (our_jid, chat_jid),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE whatsmeow_message_secrets (
	our_jid    TEXT  NOT NULL,
	chat_jid   TEXT  NOT NULL,
	sender_jid TEXT  NOT NULL,
	message_id TEXT  NOT NULL,
	key        bytea NOT NULL,

	PRIMARY KEY (our_jid, chat_jid, sender_jid, message_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX whatsmeow_message_secrets_id_idx ON whatsmeow_message_secrets (our_jid, message_id);

CREATE TABLE whatsmeow_privacy_tokens (
	our_jid   TEXT   NOT NULL,
	their_jid TEXT   NOT NULL,
	token     bytea  NOT NULL,
	timestamp BIGINT NOT NULL,

	PRIMARY KEY (our_jid, their_jid),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);

-- The LID <-> phone number map is global knowledge about WhatsApp users, shared by every device.
CREATE TABLE whatsmeow_lid_map (
	lid TEXT PRIMARY KEY,
	pn  TEXT NOT NULL UNIQUE
);

CREATE TABLE whatsmeow_event_buffer (
	our_jid          TEXT   NOT NULL,
	ciphertext_hash  bytea  NOT NULL CHECK ( length(ciphertext_hash) = 32 ),
	plaintext        bytea,
	server_timestamp BIGINT NOT NULL,
	insert_timestamp BIGINT NOT NULL,

	PRIMARY KEY (our_jid, ciphertext_hash),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX whatsmeow_event_buffer_insert_idx ON whatsmeow_event_buffer (our_jid, insert_timestamp);

-- Messages this device sent, kept so retry receipts can be answered after a restart.
CREATE TABLE whatsmeow_sent_message (
	our_jid    TEXT   NOT NULL,
	chat_jid   TEXT   NOT NULL,
	message_id TEXT   NOT NULL,
	message    bytea  NOT NULL,
	timestamp  BIGINT NOT NULL,

	PRIMARY KEY (our_jid, chat_jid, message_id),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX whatsmeow_sent_message_ts_idx ON whatsmeow_sent_message (timestamp);
