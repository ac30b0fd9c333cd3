package watestserver

import (
	"bytes"
	"cmp"
	"compress/zlib"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/libsignal/session"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/appstate"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waSyncAction"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	"google.golang.org/protobuf/proto"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver/memstore"
)

// Phone is a contact's phone in a test: a real whatsmeow client, logged in as a device of the
// contact's account, that sends and receives end-to-end encrypted messages through the server.
// Create one with Server.NewPhone; it is disconnected by Close.
type Phone struct {
	// JID is the phone's device JID (phone:N@s.whatsapp.net).
	JID types.JID
	// Client is the whatsmeow client; use it for anything the helpers below do not cover.
	Client *whatsmeow.Client
	// Events records everything the client received.
	Events *EventLog

	historyMu sync.Mutex
	history   map[types.JID][]*waWeb.WebMessageInfo // per chat, oldest first
}

// PhoneOptions tune NewPhone. The zero value is usable.
type PhoneOptions struct {
	// PushName is the contact's display name, sent with every message. Defaults to the number.
	PushName string
	// Device is an unpaired device from any store container (e.g. devicestore.Container.NewDevice()),
	// for a phone whose state must survive in a database. Defaults to an in-memory device.
	Device *store.Device
	// Log receives the whatsmeow client's log. Defaults to none.
	Log *zerolog.Logger
	// Primary pairs the phone as device 0, the account's primary phone, which companions (like
	// the bridge) send peer requests to. It then answers on-demand history requests from the
	// history given to KeepHistory. Only for a phone on the user's own account; the account
	// must not have a primary phone yet.
	Primary bool
}

// NewPhone registers account phone (digits, international format) if needed, pairs a new
// whatsmeow client as one of its devices and waits until it is logged in.
func (srv *Server) NewPhone(ctx context.Context, phone string, opts PhoneOptions) (*Phone, error) {
	if err := validPhone(phone); err != nil {
		return nil, err
	}
	if opts.PushName == "" {
		opts.PushName = phone
	}
	if _, err := srv.CreateAccount(phone, opts.PushName); err != nil {
		return nil, err
	}
	dev := opts.Device
	if dev == nil {
		dev, _ = memstore.NewDevice()
	} else if dev.ID != nil {
		return nil, fmt.Errorf("new phone %s: the device is already paired as %s", phone, dev.ID)
	}
	dev.PushName = opts.PushName
	var wlog waLog.Logger = waLog.Noop
	if opts.Log != nil {
		wlog = waLog.Zerolog(opts.Log.With().Str("phone", phone).Logger())
	}
	cli := whatsmeow.NewClient(dev, wlog)
	srv.ConfigureClient(cli)
	p := &Phone{Client: cli, Events: NewEventLog(cli), history: map[types.JID][]*waWeb.WebMessageInfo{}}
	if opts.Primary {
		srv.mu.Lock()
		acct := srv.accountLocked(phone, false)
		if acct.devices[0] != nil {
			srv.mu.Unlock()
			return nil, fmt.Errorf("new phone %s: the account already has a primary phone", phone)
		}
		acct.primaryNext = true
		srv.mu.Unlock()
		cli.AddEventHandler(p.answerPeerRequest)
	}
	jid, err := srv.PairClient(ctx, cli, phone)
	if err != nil {
		cli.Disconnect()
		return nil, fmt.Errorf("new phone %s: %w", phone, err)
	}
	p.JID = jid
	if err = cli.SendPresence(ctx, types.PresenceAvailable); err != nil {
		cli.Disconnect()
		return nil, fmt.Errorf("new phone %s: announce presence: %w", phone, err)
	}
	return p, nil
}

// SendText sends a text message to a user (phone@s.whatsapp.net) or group (id@g.us).
func (p *Phone) SendText(ctx context.Context, to types.JID, text string) (whatsmeow.SendResponse, error) {
	resp, err := p.Client.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(text)})
	if err != nil {
		return resp, fmt.Errorf("phone %s: send text to %s: %w", p.JID.User, to, err)
	}
	return resp, nil
}

// SendImage uploads an image to the media host and sends it, with an optional caption.
func (p *Phone) SendImage(ctx context.Context, to types.JID, data []byte, mimetype, caption string) (whatsmeow.SendResponse, error) {
	if len(data) == 0 {
		return whatsmeow.SendResponse{}, fmt.Errorf("phone %s: send image: no data", p.JID.User)
	}
	up, err := p.Client.Upload(ctx, data, whatsmeow.MediaImage)
	if err != nil {
		return whatsmeow.SendResponse{}, fmt.Errorf("phone %s: upload image: %w", p.JID.User, err)
	}
	img := &waE2E.ImageMessage{
		URL:           proto.String(up.URL),
		DirectPath:    proto.String(up.DirectPath),
		MediaKey:      up.MediaKey,
		FileEncSHA256: up.FileEncSHA256,
		FileSHA256:    up.FileSHA256,
		FileLength:    proto.Uint64(up.FileLength),
		Mimetype:      proto.String(mimetype),
	}
	if caption != "" {
		img.Caption = proto.String(caption)
	}
	resp, err := p.Client.SendMessage(ctx, to, &waE2E.Message{ImageMessage: img})
	if err != nil {
		return resp, fmt.Errorf("phone %s: send image to %s: %w", p.JID.User, to, err)
	}
	return resp, nil
}

// React sends a reaction to message id in chat, sent by sender (empty emoji removes it).
func (p *Phone) React(ctx context.Context, chat, sender types.JID, id types.MessageID, emoji string) (whatsmeow.SendResponse, error) {
	resp, err := p.Client.SendMessage(ctx, chat, p.Client.BuildReaction(chat, sender, id, emoji))
	if err != nil {
		return resp, fmt.Errorf("phone %s: react to %s: %w", p.JID.User, id, err)
	}
	return resp, nil
}

// MarkRead sends a read receipt for messages of sender in chat.
func (p *Phone) MarkRead(ctx context.Context, chat, sender types.JID, ids ...types.MessageID) error {
	if err := p.Client.MarkRead(ctx, ids, time.Now(), chat, sender); err != nil {
		return fmt.Errorf("phone %s: mark read in %s: %w", p.JID.User, chat, err)
	}
	return nil
}

// Typing starts or stops the "typing…" indicator in a chat.
func (p *Phone) Typing(ctx context.Context, chat types.JID, typing bool) error {
	state := types.ChatPresencePaused
	if typing {
		state = types.ChatPresenceComposing
	}
	if err := p.Client.SendChatPresence(ctx, chat, state, ""); err != nil {
		return fmt.Errorf("phone %s: typing in %s: %w", p.JID.User, chat, err)
	}
	return nil
}

// ShareAppStateKeys creates an app state key on the phone (if it has none) and shares it with
// another device of the same account, as the primary phone does after pairing; from then on
// both can read and write the account's app state (mute, pin, archive, contact names…).
func (p *Phone) ShareAppStateKeys(ctx context.Context, device types.JID) error {
	keyID, err := p.Client.Store.AppStateKeys.GetLatestAppStateSyncKeyID(ctx)
	if err != nil {
		return fmt.Errorf("phone %s: read app state key: %w", p.JID.User, err)
	}
	fingerprint := &waE2E.AppStateSyncKeyFingerprint{RawID: proto.Uint32(1), CurrentIndex: proto.Uint32(0), DeviceIndexes: []uint32{0}}
	var key *store.AppStateSyncKey
	if keyID == nil {
		keyID = randomBytes(6)
		rawFP, _ := proto.Marshal(fingerprint)
		key = &store.AppStateSyncKey{Data: randomBytes(32), Fingerprint: rawFP, Timestamp: time.Now().UnixMilli()}
		if err = p.Client.Store.AppStateKeys.PutAppStateSyncKey(ctx, keyID, *key); err != nil {
			return fmt.Errorf("phone %s: store app state key: %w", p.JID.User, err)
		}
	} else if key, err = p.Client.Store.AppStateKeys.GetAppStateSyncKey(ctx, keyID); err != nil || key == nil {
		return fmt.Errorf("phone %s: read app state key %x: %v", p.JID.User, keyID, err)
	} else {
		_ = proto.Unmarshal(key.Fingerprint, fingerprint)
	}
	msg := &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_APP_STATE_SYNC_KEY_SHARE.Enum(),
		AppStateSyncKeyShare: &waE2E.AppStateSyncKeyShare{Keys: []*waE2E.AppStateSyncKey{{
			KeyID:   &waE2E.AppStateSyncKeyId{KeyID: keyID},
			KeyData: &waE2E.AppStateSyncKeyData{KeyData: key.Data, Fingerprint: fingerprint, Timestamp: proto.Int64(key.Timestamp)},
		}}},
	}}
	return p.sendPeer(ctx, device, msg)
}

// SetContactName saves a contact in the phone's address book (app state), which the account's
// other devices see as events.Contact. Call ShareAppStateKeys first.
func (p *Phone) SetContactName(ctx context.Context, contact types.JID, fullName, firstName string) error {
	patch := appstate.PatchInfo{
		Type: appstate.WAPatchCriticalUnblockLow,
		Mutations: []appstate.MutationInfo{{
			Index:   []string{appstate.IndexContact, contact.ToNonAD().String()},
			Version: 2,
			Value: &waSyncAction.SyncActionValue{ContactAction: &waSyncAction.ContactAction{
				FullName:  proto.String(fullName),
				FirstName: proto.String(firstName),
			}},
		}},
	}
	if err := p.Client.SendAppState(ctx, patch); err != nil {
		return fmt.Errorf("phone %s: save contact %s: %w", p.JID.User, contact, err)
	}
	return nil
}

// ensurePeerSession makes sure the phone has a Signal session with another device of its
// account: whatsmeow encrypts peer messages only over an existing session.
func (p *Phone) ensurePeerSession(ctx context.Context, device types.JID) error {
	addr := device
	if lid, err := p.Client.Store.LIDs.GetLIDForPN(ctx, device); err != nil {
		return fmt.Errorf("look up the LID of %s: %w", device, err)
	} else if !lid.IsEmpty() {
		addr = lid
	}
	if has, err := p.Client.Store.ContainsSession(ctx, addr.SignalAddress()); err != nil {
		return fmt.Errorf("check session with %s: %w", addr, err)
	} else if has {
		return nil
	}
	bundle := p.Client.DangerousInternals().FetchPreKeysNoError(ctx, []types.JID{device})[device]
	if bundle == nil {
		return fmt.Errorf("no prekey bundle for %s", device)
	}
	builder := session.NewBuilderFromSignal(p.Client.Store, addr.SignalAddress(), store.SignalProtobufSerializer)
	if err := builder.ProcessBundle(ctx, bundle); err != nil {
		return fmt.Errorf("start a session with %s: %w", addr, err)
	}
	return nil
}

// sendPeer sends a protocol message to another device of the phone's account.
func (p *Phone) sendPeer(ctx context.Context, device types.JID, msg *waE2E.Message) error {
	if device.User != p.JID.User || device.Server != types.DefaultUserServer || device.Device == 0 || device == p.JID {
		return fmt.Errorf("phone %s: peer messages go to another device of the same account (number:N@s.whatsapp.net), not %s", p.JID.User, device)
	}
	if err := p.ensurePeerSession(ctx, device); err != nil {
		return fmt.Errorf("phone %s: %w", p.JID.User, err)
	}
	if _, err := p.Client.SendMessage(ctx, device, msg, whatsmeow.SendRequestExtra{Peer: true}); err != nil {
		return fmt.Errorf("phone %s: send peer message to %s: %w", p.JID.User, device, err)
	}
	return nil
}

// SendHistorySync sends a history sync blob to another device of the phone's own account (such
// as the bridge's), inline in a peer message, as the primary phone does after pairing. The device
// gets events.HistorySync.
func (p *Phone) SendHistorySync(ctx context.Context, device types.JID, hs *waHistorySync.HistorySync) error {
	raw, err := proto.Marshal(hs)
	if err != nil {
		return fmt.Errorf("marshal history sync: %w", err)
	}
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(raw)
	if err = zw.Close(); err != nil {
		return fmt.Errorf("compress history sync: %w", err)
	}
	msg := &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
		Type: waE2E.ProtocolMessage_HISTORY_SYNC_NOTIFICATION.Enum(),
		HistorySyncNotification: &waE2E.HistorySyncNotification{
			SyncType:                          waE2E.HistorySyncType(hs.GetSyncType()).Enum(),
			ChunkOrder:                        proto.Uint32(hs.GetChunkOrder()),
			Progress:                          proto.Uint32(hs.GetProgress()),
			InitialHistBootstrapInlinePayload: buf.Bytes(),
		},
	}}
	return p.sendPeer(ctx, device, msg)
}

// PostStatus posts a text status update (to status@broadcast). WhatsApp delivers statuses to the
// poster's saved contacts, and whatsmeow reads that audience from its contact store, so each
// audience member is saved as a contact first.
func (p *Phone) PostStatus(ctx context.Context, text string, audience ...types.JID) (whatsmeow.SendResponse, error) {
	for _, jid := range audience {
		if err := p.Client.Store.Contacts.PutContactName(ctx, jid.ToNonAD(), "+"+jid.User, "+"+jid.User); err != nil {
			return whatsmeow.SendResponse{}, fmt.Errorf("phone %s: save status audience %s: %w", p.JID.User, jid, err)
		}
	}
	resp, err := p.Client.SendMessage(ctx, types.StatusBroadcastJID, &waE2E.Message{
		ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(text)},
	})
	if err != nil {
		return resp, fmt.Errorf("phone %s: post status: %w", p.JID.User, err)
	}
	return resp, nil
}

// Close disconnects the phone's client.
func (p *Phone) Close() {
	p.Events.Stop()
	p.Client.Disconnect()
}

// textOf returns the text of a plain or extended text message.
func textOf(msg *waE2E.Message) string {
	if msg.GetConversation() != "" {
		return msg.GetConversation()
	}
	return msg.GetExtendedTextMessage().GetText()
}

// KeepHistory gives the phone (a Primary one) messages of a chat it keeps, as a phone keeps its
// chats: on-demand history requests are answered from them. Messages may come in any order.
func (p *Phone) KeepHistory(chat types.JID, msgs ...*waWeb.WebMessageInfo) {
	p.historyMu.Lock()
	defer p.historyMu.Unlock()
	kept := append(p.history[chat.ToNonAD()], msgs...)
	slices.SortStableFunc(kept, func(a, b *waWeb.WebMessageInfo) int {
		return cmp.Compare(a.GetMessageTimestamp(), b.GetMessageTimestamp())
	})
	p.history[chat.ToNonAD()] = kept
}

// answerPeerRequest answers a companion's on-demand history request (whatsmeow's
// BuildHistorySyncRequest) as the primary phone does: with an ON_DEMAND history sync of the
// count messages of the chat that precede the oldest one the companion has.
func (p *Phone) answerPeerRequest(evt any) {
	msg, ok := evt.(*events.Message)
	if !ok || !msg.Info.IsFromMe || msg.Info.Category != "peer" {
		return
	}
	req := msg.Message.GetProtocolMessage().GetPeerDataOperationRequestMessage()
	if req.GetPeerDataOperationRequestType() != waE2E.PeerDataOperationRequestType_HISTORY_SYNC_ON_DEMAND {
		return
	}
	od := req.GetHistorySyncOnDemandRequest()
	chat, err := types.ParseJID(od.GetChatJID())
	if err != nil {
		return
	}
	p.historyMu.Lock()
	kept := p.history[chat.ToNonAD()]
	end := len(kept)
	for i, m := range kept {
		if m.GetKey().GetID() == od.GetOldestMsgID() || int64(m.GetMessageTimestamp())*1000 >= od.GetOldestMsgTimestampMS() {
			end = i
			break
		}
	}
	start := max(0, end-int(od.GetOnDemandMsgCount()))
	// Newest first, as WhatsApp sends a conversation's messages.
	answer := slices.Clone(kept[start:end])
	slices.Reverse(answer)
	p.historyMu.Unlock()
	conv := &waHistorySync.Conversation{ID: proto.String(chat.String())}
	for _, m := range answer {
		conv.Messages = append(conv.Messages, &waHistorySync.HistorySyncMsg{Message: m})
	}
	device := types.JID{User: p.JID.User, Device: msg.Info.Sender.Device, Server: types.DefaultUserServer}
	go func() {
		// Not on whatsmeow's event loop: sending waits for the server's answer.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		hs := &waHistorySync.HistorySync{SyncType: waHistorySync.HistorySync_ON_DEMAND.Enum(), Conversations: []*waHistorySync.Conversation{conv}}
		_ = p.SendHistorySync(ctx, device, hs)
	}()
}
