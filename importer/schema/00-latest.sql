-- v0 -> v1: Latest revision
CREATE TABLE passerelle_import_room (
	bridge_id  TEXT   NOT NULL,
	scope      TEXT   NOT NULL,
	room_id    TEXT   NOT NULL,
	kind       TEXT   NOT NULL,
	user_mxid  TEXT   NOT NULL,
	created_at BIGINT NOT NULL,
	PRIMARY KEY (bridge_id, scope)
);
CREATE TABLE passerelle_import_message (
	bridge_id TEXT   NOT NULL,
	scope     TEXT   NOT NULL,
	msg_key   TEXT   NOT NULL,
	event_id  TEXT   NOT NULL,
	ts        BIGINT NOT NULL,
	PRIMARY KEY (bridge_id, scope, msg_key)
);
