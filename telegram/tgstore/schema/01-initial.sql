-- v0 -> v1: Passerelle Telegram account state
-- The MTProto session (auth key, DC) of each logged-in Telegram account, as gotd encodes it.
CREATE TABLE telegram_session (
	user_id BIGINT PRIMARY KEY,
	data    bytea  NOT NULL
);

-- The common update sequence of each account (see core.telegram.org/api/updates).
CREATE TABLE telegram_update_state (
	user_id BIGINT  PRIMARY KEY,
	pts     INTEGER NOT NULL,
	qts     INTEGER NOT NULL,
	date    INTEGER NOT NULL,
	seq     INTEGER NOT NULL
);

-- The update sequence of each channel and supergroup an account follows.
CREATE TABLE telegram_channel_state (
	user_id    BIGINT  NOT NULL,
	channel_id BIGINT  NOT NULL,
	pts        INTEGER NOT NULL,
	PRIMARY KEY (user_id, channel_id)
);

-- Access hashes are per account: the same user or channel has a different hash for each viewer.
-- kind is 'u' for users and 'c' for channels/supergroups.
CREATE TABLE telegram_access_hash (
	user_id     BIGINT NOT NULL,
	kind        TEXT   NOT NULL CHECK ( kind IN ('u', 'c') ),
	peer_id     BIGINT NOT NULL,
	access_hash BIGINT NOT NULL,
	PRIMARY KEY (user_id, kind, peer_id)
);
