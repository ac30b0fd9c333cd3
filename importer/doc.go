// Package importer brings a person's history from the apps' own exports into Matrix through the
// bridge: Telegram Desktop JSON exports (package tgexport) and WhatsApp "Export chat" files
// (package waexport) become timestamped messages from the right senders in the right rooms.
//
// # Where the history goes
//
// A chat without a portal gets one: the importer creates the bridgev2 portal (portal.TGPortalID /
// portal.WAPortalID, with the importing user's login as receiver for DMs or when portals are
// split) and its room through bridgev2's CreateMatrixRoom with the export's senders as members
// and no network backfill at creation, then sends the history into it; live messages continue
// after it. Imported Telegram messages are also added to bridgev2's message table, so live
// replies and edits to them resolve. A chat whose portal exists gets a new archive room, linked
// from the portal with m.space.child and a notice (and back with m.space.parent). A chat that
// cannot be tied to a portal (no login on that network, or a WhatsApp export without --chat or
// --room: WhatsApp exports do not say which chat they are) gets a standalone room; the summary
// says why.
//
// # Who said it
//
// Telegram senders are the Telegram ghosts of their from_id; WhatsApp senders the ghosts of
// their phone number, or of the contact of that name on the user's WhatsApp login (through
// bridgev2.ContactListingNetworkAPI); anyone else an "imported" ghost per name
// (portal.ImportedUserID, which no network parser accepts). System lines without an author are
// sent by the bridge bot. The importing person's own messages are sent as them with double
// puppeting when the bridge has it, else as their own ghost; they are recognised by the login's
// account, by --me for WhatsApp, or in one-to-one exports as the writer who is not the other side
// (a Telegram personal chat, a WhatsApp "Chat with Anna" where only two people write).
//
// # Idempotent and resumable
//
// The bridge database holds, per chat scope (portal key, or user and export chat for standalone
// rooms), the room used and every imported message key with its event ID (tables
// passerelle_import_room and passerelle_import_message, versioned in passerelle_import_version).
// A re-run, or the run after an interruption, sends only the messages not yet recorded, into
// the same room. Each message is sent with a transaction ID derived from its key, so a send that
// reached the homeserver just before a crash is deduplicated by the homeserver on retry. The
// whole export is read once before anything is sent: a malformed or truncated file is reported
// with its file and line or JSON path and imports nothing.
//
// # How it runs
//
// The import runs inside the bridge process, started either by the `import` management command
// (reply to an uploaded export; one message is edited with the progress and the summary) or by
// `passerelle import telegram|whatsapp PATH --user @you:server` on the command line. The CLI does
// not open the database or talk to the homeserver itself: while the bridge runs, a second
// process writing portal, ghost and message rows would race with the bridge's in-memory caches
// (bridgev2 caches portals and ghosts and would not see rows created behind its back) and its
// encryption state (a second Olm machine on the same store would corrupt sessions). Instead it
// uploads the export to an endpoint the bridge registers on its appservice listener
// (ImportPath, authenticated with the provisioning shared secret from the config file) and
// renders the newline-delimited JSON progress the bridge streams back as a progress bar with ETA.
// Both paths run the same engine (Importer.Run).
//
// Register the command and the endpoint with RegisterCommands(br) once the bridge is initialised.
package importer
