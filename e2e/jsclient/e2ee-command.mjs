// An independent Matrix client (matrix-js-sdk with its Rust crypto) that checks end-to-bridge
// encryption from the outside: it logs in, opens an encrypted DM with the bridge bot (or reuses
// a room), sends one command encrypted, and waits for an encrypted reply from the bot that it can
// decrypt. It prints one JSON object on stdout and exits 0 when such a reply arrived, 1 if not.
//
// Usage: node e2ee-command.mjs --homeserver URL --user LOCALPART --password PW --bot MXID
//            [--command help] [--expect SUBSTRING] [--timeout-ms 60000]
//
// Library logging goes to stderr so stdout stays machine-readable.

import { parseArgs } from "node:util";

for (const level of ["log", "info", "debug", "trace"]) {
    console[level] = (...args) => console.error(...args);
}

const { values: opts } = parseArgs({
    options: {
        homeserver: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
        bot: { type: "string" },
        command: { type: "string", default: "help" },
        expect: { type: "string", default: "" },
        "timeout-ms": { type: "string", default: "60000" },
    },
});

const result = {
    ok: false,
    user_id: null,
    device_id: null,
    room_id: null,
    room_encryption: null,
    bot_joined: false,
    bot_devices: [],
    sent_event_id: null,
    sent_wire_type: null,
    replies: [],
    error: null,
};

// The bot's messages in the new room, by event ID, in the shape reported in result.replies.
const seen = new Map();

function finish(code) {
    result.replies = [...seen.values()];
    process.stdout.write(JSON.stringify(result) + "\n");
    process.exit(code);
}

for (const name of ["homeserver", "user", "password", "bot"]) {
    if (!opts[name]) {
        result.error = `missing required option --${name}`;
        finish(2);
    }
}
const timeoutMs = Number.parseInt(opts["timeout-ms"], 10);
if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    result.error = `--timeout-ms must be a positive number of milliseconds, got ${opts["timeout-ms"]}`;
    finish(2);
}
const deadline = Date.now() + timeoutMs;
const timer = setTimeout(() => {
    result.error = result.error ?? `timed out after ${timeoutMs} ms`;
    finish(1);
}, timeoutMs);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what, check, intervalMs = 200) {
    while (Date.now() < deadline) {
        const value = await check();
        if (value) {
            return value;
        }
        await sleep(intervalMs);
    }
    throw new Error(`timed out waiting for ${what}`);
}

async function main() {
    const sdk = await import("matrix-js-sdk");
    const { logger } = await import("matrix-js-sdk/lib/logger.js");
    logger.setLevel("warn");

    const loginClient = sdk.createClient({ baseUrl: opts.homeserver });
    const login = await loginClient.login("m.login.password", {
        identifier: { type: "m.id.user", user: opts.user },
        password: opts.password,
        initial_device_display_name: "passerelle e2e jsclient",
    });
    result.user_id = login.user_id;
    result.device_id = login.device_id;

    const client = sdk.createClient({
        baseUrl: opts.homeserver,
        userId: login.user_id,
        deviceId: login.device_id,
        accessToken: login.access_token,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const crypto = client.getCrypto();

    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
            if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) {
                resolve();
            } else if (state === sdk.SyncState.Error) {
                reject(new Error(`sync failed: ${data?.error?.message ?? "unknown error"}`));
            }
        });
    });
    await client.startClient({ initialSyncLimit: 20 });
    await prepared;

    // The bot must have published a device with keys, or the message cannot be encrypted for it.
    result.bot_devices = await waitFor("the bot's device keys", async () => {
        const devices = await crypto.getUserDeviceInfo([opts.bot], true);
        const ids = [...(devices.get(opts.bot)?.keys() ?? [])];
        return ids.length > 0 ? ids : null;
    }, 500);

    const created = await client.createRoom({
        preset: sdk.Preset.TrustedPrivateChat,
        is_direct: true,
        invite: [opts.bot],
        initial_state: [{
            type: "m.room.encryption",
            state_key: "",
            content: { algorithm: "m.megolm.v1.aes-sha2" },
        }],
    });
    result.room_id = created.room_id;

    const room = await waitFor("the room in sync", () => client.getRoom(created.room_id));
    await waitFor("the bot to join", () => room.getMember(opts.bot)?.membership === "join");
    result.bot_joined = true;
    const encEvent = room.currentState.getStateEvents("m.room.encryption", "");
    result.room_encryption = encEvent ? encEvent.getContent() : null;

    // Collect the bot's messages; decryption may complete after the event arrives (the room key
    // travels separately as a to-device message), so re-check on every update.
    let sentEventId = null;
    const isAfterSent = (ev) => {
        const events = room.getLiveTimeline().getEvents();
        const sentIdx = events.findIndex((e) => e.getId() === sentEventId);
        const idx = events.findIndex((e) => e.getId() === ev.getId());
        return sentIdx >= 0 && idx > sentIdx;
    };
    const record = async (ev) => {
        if (ev.getRoomId() !== created.room_id || ev.getSender() !== opts.bot) {
            return;
        }
        if (ev.getWireType() !== "m.room.encrypted" && ev.getWireType() !== "m.room.message") {
            return;
        }
        await client.decryptEventIfNeeded(ev);
        const content = ev.getContent();
        seen.set(ev.getId(), {
            event_id: ev.getId(),
            wire_type: ev.getWireType(),
            type: ev.getType(),
            decrypted: ev.isEncrypted() && !ev.isDecryptionFailure(),
            decryption_failure: ev.isDecryptionFailure(),
            msgtype: content?.msgtype ?? null,
            body: content?.body ?? null,
            after_command: isAfterSent(ev),
        });
    };
    client.on(sdk.RoomEvent.Timeline, (ev) => { void record(ev); });
    client.on(sdk.MatrixEventEvent.Decrypted, (ev) => { void record(ev); });

    const sent = await client.sendTextMessage(created.room_id, opts.command);
    sentEventId = sent.event_id;
    result.sent_event_id = sent.event_id;
    // What the homeserver stored, not the local echo: proves the command left encrypted.
    const stored = await client.fetchRoomEvent(created.room_id, sent.event_id);
    result.sent_wire_type = stored.type ?? null;

    const good = (r) => r.after_command && r.wire_type === "m.room.encrypted" && r.decrypted &&
        (opts.expect === "" || (r.body ?? "").includes(opts.expect));
    await waitFor(`an encrypted reply from ${opts.bot} containing ${JSON.stringify(opts.expect)}`, () => {
        // Rescan the timeline too: an event may have arrived before the listeners were set, and
        // "after the command" is only known once our own event is in the timeline.
        for (const ev of room.getLiveTimeline().getEvents()) {
            if (ev.getSender() === opts.bot) {
                void record(ev);
            }
        }
        return [...seen.values()].some(good);
    });
    result.ok = true;
    client.stopClient();
}

main().then(() => {
    clearTimeout(timer);
    finish(0);
}).catch((err) => {
    clearTimeout(timer);
    result.error = String(err?.stack ?? err);
    finish(1);
});
