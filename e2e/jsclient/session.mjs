// A long-running independent Matrix client (matrix-js-sdk with its Rust crypto) driven by JSON
// lines on stdin, for tests that need an encrypting client to stay logged in while the bridge
// does something (a remote message arriving in an encrypted portal, a command and its answer).
//
// Usage: node session.mjs --homeserver URL --user LOCALPART --password PW
//
// Output (stdout, one JSON object per line): first {"event":"ready","user_id":…,"device_id":…}
// (or {"event":"fatal","error":…}), then one reply per request, with the request's "id".
// Requests (stdin, one JSON object per line):
//   {"id":1,"cmd":"create_dm","user":"@bot:localhost","encrypted":true}  -> {"room_id":…}
//   {"id":2,"cmd":"join","room":"!r:localhost"}                         -> {}
//   {"id":3,"cmd":"wait_joined","room":…,"user":…,"timeout_ms":30000}    -> {}
//   {"id":4,"cmd":"send","room":…,"text":"help"}                        -> {"event_id":…,"wire_type":…}
//   {"id":5,"cmd":"wait_message","room":…,"sender":…,"contains":…,"after":"$ev","timeout_ms":30000}
//        -> {"message":{event_id,sender,wire_type,type,msgtype,body,decrypted,decryption_failure}}
//   {"id":6,"cmd":"quit"}
// Every reply has "ok"; failures carry "error" (and wait_message the messages it saw).
// Library logging goes to stderr.

import { parseArgs } from "node:util";
import { createInterface } from "node:readline";

for (const level of ["log", "info", "debug", "trace"]) {
    console[level] = (...args) => console.error(...args);
}

const { values: opts } = parseArgs({
    options: {
        homeserver: { type: "string" },
        user: { type: "string" },
        password: { type: "string" },
    },
});

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what, timeoutMs, check, intervalMs = 100) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const value = await check();
        if (value) {
            return value;
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        }
        await sleep(intervalMs);
    }
}

function describe(client, ev) {
    const content = ev.getContent() ?? {};
    return {
        event_id: ev.getId(),
        sender: ev.getSender(),
        wire_type: ev.getWireType(),
        type: ev.getType(),
        msgtype: content.msgtype ?? null,
        body: content.body ?? null,
        decrypted: ev.isEncrypted() && !ev.isDecryptionFailure(),
        decryption_failure: ev.isDecryptionFailure(),
    };
}

async function main() {
    for (const name of ["homeserver", "user", "password"]) {
        if (!opts[name]) {
            throw new Error(`missing required option --${name}`);
        }
    }
    const sdk = await import("matrix-js-sdk");
    const { logger } = await import("matrix-js-sdk/lib/logger.js");
    logger.setLevel("warn");

    const loginClient = sdk.createClient({ baseUrl: opts.homeserver });
    const login = await loginClient.login("m.login.password", {
        identifier: { type: "m.id.user", user: opts.user },
        password: opts.password,
        initial_device_display_name: "passerelle e2e jsclient session",
    });
    const client = sdk.createClient({
        baseUrl: opts.homeserver,
        userId: login.user_id,
        deviceId: login.device_id,
        accessToken: login.access_token,
    });
    await client.initRustCrypto({ useIndexedDB: false });
    const prepared = new Promise((resolve, reject) => {
        client.on(sdk.ClientEvent.Sync, (state, _prev, data) => {
            if (state === sdk.SyncState.Prepared || state === sdk.SyncState.Syncing) {
                resolve();
            } else if (state === sdk.SyncState.Error && !data) {
                reject(new Error("sync failed"));
            }
        });
    });
    await client.startClient({ initialSyncLimit: 50 });
    await prepared;

    const handlers = {
        async create_dm(req) {
            const initialState = req.encrypted ? [{
                type: "m.room.encryption",
                state_key: "",
                content: { algorithm: "m.megolm.v1.aes-sha2" },
            }] : [];
            const created = await client.createRoom({
                preset: sdk.Preset.TrustedPrivateChat,
                is_direct: true,
                invite: [req.user],
                initial_state: initialState,
            });
            await until("the new room in sync", 30000, () => client.getRoom(created.room_id));
            return { room_id: created.room_id };
        },
        async join(req) {
            await client.joinRoom(req.room);
            await until("the joined room in sync", req.timeout_ms ?? 30000,
                () => client.getRoom(req.room)?.getMyMembership() === "join");
            return {};
        },
        async wait_joined(req) {
            await until(`${req.user} to join ${req.room}`, req.timeout_ms ?? 30000,
                () => client.getRoom(req.room)?.getMember(req.user)?.membership === "join");
            return {};
        },
        async send(req) {
            const room = client.getRoom(req.room);
            if (room && await client.getCrypto().isEncryptionEnabledInRoom(req.room)) {
                // Make sure the keys of every member's devices are known before encrypting.
                await client.getCrypto().getUserDeviceInfo(room.getJoinedMembers().map((m) => m.userId), true);
            }
            const sent = await client.sendTextMessage(req.room, req.text);
            const stored = await client.fetchRoomEvent(req.room, sent.event_id);
            return { event_id: sent.event_id, wire_type: stored.type ?? null };
        },
        async wait_message(req) {
            const timeoutMs = req.timeout_ms ?? 30000;
            let seen = [];
            try {
                const found = await until("a matching message", timeoutMs, async () => {
                    const room = client.getRoom(req.room);
                    if (!room) {
                        return null;
                    }
                    const events = room.getLiveTimeline().getEvents();
                    let start = 0;
                    if (req.after) {
                        start = events.findIndex((e) => e.getId() === req.after) + 1;
                        if (start === 0) {
                            return null;
                        }
                    }
                    seen = [];
                    for (const ev of events.slice(start)) {
                        if (ev.getWireType() !== "m.room.message" && ev.getWireType() !== "m.room.encrypted") {
                            continue;
                        }
                        await client.decryptEventIfNeeded(ev);
                        const d = describe(client, ev);
                        seen.push(d);
                        if (d.type !== "m.room.message") {
                            continue;
                        }
                        if (req.sender && d.sender !== req.sender) {
                            continue;
                        }
                        if (req.contains && !(d.body ?? "").includes(req.contains)) {
                            continue;
                        }
                        return d;
                    }
                    return null;
                }, 150);
                return { message: found };
            } catch (err) {
                err.seen = seen;
                throw err;
            }
        },
    };

    emit({ event: "ready", user_id: login.user_id, device_id: login.device_id });

    const lines = createInterface({ input: process.stdin });
    for await (const line of lines) {
        if (!line.trim()) {
            continue;
        }
        let req;
        try {
            req = JSON.parse(line);
        } catch (err) {
            emit({ ok: false, error: `request is not JSON: ${err.message}` });
            continue;
        }
        if (req.cmd === "quit") {
            emit({ id: req.id, ok: true });
            break;
        }
        const handler = handlers[req.cmd];
        if (!handler) {
            emit({ id: req.id, ok: false, error: `unknown cmd ${JSON.stringify(req.cmd)}; want one of ${Object.keys(handlers).join(", ")}, quit` });
            continue;
        }
        // Requests run one at a time, in order, so a test reads like a script.
        try {
            emit({ id: req.id, ok: true, ...(await handler(req)) });
        } catch (err) {
            emit({ id: req.id, ok: false, error: String(err?.message ?? err), seen: err?.seen });
        }
    }
    client.stopClient();
}

main().then(() => process.exit(0)).catch((err) => {
    emit({ event: "fatal", error: String(err?.stack ?? err) });
    process.exit(1);
});
