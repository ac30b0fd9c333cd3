-- v2 -> v3: Journal of WhatsApp events acknowledged before bridgev2 handled them
-- Rows are written in the order whatsmeow delivered them (seq, assigned by the bridge, which alone
-- writes a device's rows) and deleted once bridgev2 has handled them.
CREATE TABLE passerelle_wa_inbound (
	our_jid     TEXT   NOT NULL,
	seq         BIGINT NOT NULL,
	payload     bytea  NOT NULL,
	received_at BIGINT NOT NULL,

	PRIMARY KEY (our_jid, seq),
	FOREIGN KEY (our_jid) REFERENCES whatsmeow_device(jid) ON DELETE CASCADE ON UPDATE CASCADE
);
