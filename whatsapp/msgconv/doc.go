// Package msgconv converts message content between WhatsApp and Matrix without touching the
// network: WhatsApp's inline markup (*bold*, _italic_, ~strike~, `code`, ```blocks```, "> "
// quotes, "- " and "1. " lists) and mentions to Matrix HTML with pills, and Matrix HTML back to
// WhatsApp markup with the mentioned JIDs. Everything here is a pure function with table tests,
// so the connector's network code only glues these to whatsmeow and bridgev2.
package msgconv
