// Package msgconv converts message text between Telegram and Matrix without touching the
// network: Telegram's text with entities (offsets in UTF-16 code units) to Matrix HTML with
// pills, and Matrix HTML back to Telegram text with entities and mentions. Everything here is a
// pure function with table tests, so the connector only glues these to gotd and bridgev2.
package msgconv
