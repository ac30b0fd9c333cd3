-- v1 -> v2: Remember queued sends that may already have reached the network
ALTER TABLE passerelle_outbox ADD COLUMN uncertain BOOLEAN NOT NULL DEFAULT false;
