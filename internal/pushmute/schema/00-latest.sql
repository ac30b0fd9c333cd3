-- v0 -> v1: Latest revision
-- Bridge users (the bot and the ghosts) whose push rules the homeserver was told to mute.
CREATE TABLE passerelle_push_muted (
	user_id  TEXT   PRIMARY KEY,
	muted_at BIGINT NOT NULL
);
