package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/importer/waexport"
	"github.com/passerelle-bridge/passerelle/internal/mxconn"
	"github.com/passerelle-bridge/passerelle/portal"
)

// Importer runs imports inside the bridge process. One exists per bridge (see RegisterCommands).
type Importer struct {
	br    *bridgev2.Bridge
	store *Store
	log   zerolog.Logger

	upgraded bool

	mu      sync.Mutex
	running map[id.UserID]bool

	// MaxUploadSize, when positive, replaces the homeserver's m.upload.size (tests, or an operator
	// who wants imports to stay below the homeserver's limit).
	MaxUploadSize int64
}

// New returns the importer of a bridge; its tables are created on first use.
func New(br *bridgev2.Bridge) *Importer {
	log := br.Log.With().Str("component", "importer").Logger()
	return &Importer{
		br:      br,
		store:   NewStore(br.DB.Database, br.ID, log),
		log:     log,
		running: map[id.UserID]bool{},
	}
}

// Request is one import: whose, of which export, to where.
type Request struct {
	User    *bridgev2.User
	Network portal.Network
	// Path is the export on the bridge's disk: a Telegram folder or result.json, a WhatsApp .zip
	// or .txt.
	Path string
	// FileName names the export in messages and errors (the uploaded file's name).
	FileName string
	// Room, when set, is the portal of the chat: the history goes to an archive room linked from it.
	Room id.RoomID
	// Chat identifies a WhatsApp chat the export does not name: a phone number for a DM, a group
	// JID (…@g.us) for a group.
	Chat string
	// Me is the name the importing person appears under in a WhatsApp export.
	Me string
	// Location is the zone of wall-clock times in the export (nil: UTC).
	Location  *time.Location
	DateOrder waexport.DateOrder
	// Progress, if set, is called after every message (at most ten times a second).
	Progress func(Progress)
	// Stop, if set, ends the import between two messages once it is done (the person importing
	// went away); unlike the context given to Run it never interrupts a message half-sent.
	Stop context.Context
}

// Progress is the state of a running import.
type Progress struct {
	Total    int    `json:"total"`
	Done     int    `json:"done"`
	Imported int    `json:"imported"`
	Skipped  int    `json:"skipped"`
	Failed   int    `json:"failed"`
	Chat     string `json:"chat,omitempty"`
	// ElapsedMS and ETAMS are in milliseconds; ETA is 0 until a rate is known.
	ElapsedMS int64 `json:"elapsed_ms"`
	ETAMS     int64 `json:"eta_ms"`
}

// Summary is the outcome of an import.
type Summary struct {
	Imported int          `json:"imported"`
	Skipped  int          `json:"skipped"`
	Failed   int          `json:"failed"`
	Failures []Failure    `json:"failures,omitempty"`
	Rooms    []RoomResult `json:"rooms"`
	Duration float64      `json:"duration_seconds"`
	// Stopped is set when the import ended early (cancelled, homeserver unreachable); re-running
	// the same import continues where it stopped.
	Stopped string `json:"stopped,omitempty"`
}

// Failure is a message that could not be imported, and why.
type Failure struct {
	Pos    string `json:"position"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// RoomResult is where one chat went.
type RoomResult struct {
	Chat     string    `json:"chat"`
	RoomID   id.RoomID `json:"room_id"`
	Kind     RoomKind  `json:"kind"`
	Imported int       `json:"imported"`
	Skipped  int       `json:"skipped"`
	Failed   int       `json:"failed"`
	Note     string    `json:"note,omitempty"`
}

// maxListedFailures bounds the failures kept in a summary; the count stays exact.
const maxListedFailures = 100

// maxConsecutiveFailures stops an import that fails message after message (homeserver down):
// going on would only fill the summary, and a re-run continues where it stopped.
const maxConsecutiveFailures = 10

// ErrBusy is returned when the user already has an import running.
var ErrBusy = errors.New("an import of yours is already running; wait for it to finish")

// Run imports an export. Parse errors are found before anything is sent (the whole export is
// read once first), so a malformed file imports nothing; after that, messages that fail are
// listed in the summary and the rest continue.
func (im *Importer) Run(ctx context.Context, req *Request) (*Summary, error) {
	if req.User == nil {
		return nil, errors.New("import: no user")
	}
	im.mu.Lock()
	if im.running[req.User.MXID] {
		im.mu.Unlock()
		return nil, ErrBusy
	}
	im.running[req.User.MXID] = true
	im.mu.Unlock()
	defer func() {
		im.mu.Lock()
		delete(im.running, req.User.MXID)
		im.mu.Unlock()
	}()
	if err := im.upgrade(ctx); err != nil {
		return nil, err
	}
	log := im.log.With().Stringer("user_id", req.User.MXID).Str("network", string(req.Network)).Str("file", req.FileName).Logger()
	ctx = log.WithContext(ctx)

	open := func() (Source, error) { return im.open(req) }
	plan, err := survey(open)
	if err != nil {
		return nil, err
	}
	log.Info().Int("messages", plan.total).Int("chats", len(plan.chats)).Msg("Starting import")
	r := &run{im: im, req: req, plan: plan, started: time.Now(), sum: &Summary{Rooms: []RoomResult{}}}
	r.login = im.loginFor(req.User, req.Network)
	src, err := open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	r.src = src
	r.rec = newRecorder(ctx, im.store, im.br.DB.Message)
	err = r.execute(ctx)
	if recErr := r.rec.close(); recErr != nil && err == nil {
		err = recErr
	}
	r.sum.Duration = time.Since(r.started).Seconds()
	if err != nil {
		if r.sum.Imported+r.sum.Skipped+r.sum.Failed == 0 && len(r.sum.Rooms) == 0 {
			return nil, err
		}
		r.sum.Stopped = err.Error()
	}
	log.Info().Int("imported", r.sum.Imported).Int("skipped", r.sum.Skipped).Int("failed", r.sum.Failed).
		Str("stopped", r.sum.Stopped).Msg("Import finished")
	return r.sum, nil
}

// upgrade creates the import tables on first use (and retries on the next import if that failed).
func (im *Importer) upgrade(ctx context.Context) error {
	im.mu.Lock()
	defer im.mu.Unlock()
	if im.upgraded {
		return nil
	}
	if err := im.store.Upgrade(ctx); err != nil {
		return err
	}
	im.upgraded = true
	return nil
}

func (im *Importer) open(req *Request) (Source, error) {
	name := req.FileName
	if name == "" {
		name = path.Base(req.Path)
	}
	switch req.Network {
	case portal.Telegram:
		return OpenTelegram(req.Path, name, req.Location)
	case portal.WhatsApp:
		return OpenWhatsApp(req.Path, name, WAOptions{DateOrder: req.DateOrder, Location: req.Location})
	}
	return nil, fmt.Errorf("import: unknown network %q: use telegram or whatsapp", req.Network)
}

// loginFor is the user's first login on the network, or nil.
func (im *Importer) loginFor(user *bridgev2.User, n portal.Network) *bridgev2.UserLogin {
	for _, l := range user.GetUserLogins() {
		if got, err := portal.NetworkOf(string(l.ID)); err == nil && got == n {
			return l
		}
	}
	return nil
}

// plan is what the first read of the export found.
type plan struct {
	total int
	chats map[string]*chatPlan
	// refs are the chats as known at the end of the export (see finalChats).
	refs map[string]*ChatRef
}

// finalChats is implemented by sources whose chat details may come after the messages.
type finalChats interface {
	FinalChats() map[string]*ChatRef
}

type chatPlan struct {
	count   int
	senders []SenderRef
	seen    map[string]bool
}

// survey reads the export once: it validates the whole file before anything is sent, counts
// messages for the progress bar, and collects each chat's senders for the room's member list.
func survey(open func() (Source, error)) (*plan, error) {
	src, err := open()
	if err != nil {
		return nil, err
	}
	defer src.Close()
	p := &plan{chats: map[string]*chatPlan{}}
	keys := map[string]string{}
	for it, err := range src.Items() {
		if err != nil {
			return nil, err
		}
		if it.Key == "" {
			return nil, fmt.Errorf("%s: message without a key (parser bug)", it.Pos)
		}
		if prev, dup := keys[it.Chat.Key+"\x00"+it.Key]; dup {
			return nil, fmt.Errorf("%s: message %s appears twice (first at %s): the export is inconsistent", it.Pos, it.Key, prev)
		}
		keys[it.Chat.Key+"\x00"+it.Key] = it.Pos
		cp := p.chats[it.Chat.Key]
		if cp == nil {
			cp = &chatPlan{seen: map[string]bool{}}
			p.chats[it.Chat.Key] = cp
		}
		cp.count++
		p.total++
		if sk := senderKey(it.Sender); !cp.seen[sk] && !it.Service {
			cp.seen[sk] = true
			cp.senders = append(cp.senders, it.Sender)
		}
	}
	if p.total == 0 {
		return nil, errors.New("the export holds no messages")
	}
	if fc, ok := src.(finalChats); ok {
		p.refs = fc.FinalChats()
	}
	return p, nil
}

// run is one import in progress.
type run struct {
	im      *Importer
	req     *Request
	plan    *plan
	src     Source
	login   *bridgev2.UserLogin
	rec     *recorder
	started time.Time
	sum     *Summary

	chat        *chatRun
	done        int
	consecutive int
	lastReport  time.Time
	contactMap  map[string]networkid.UserID
}

func (r *run) execute(ctx context.Context) error {
	for it, err := range r.src.Items() {
		if err != nil {
			return err
		}
		if err = ctx.Err(); err != nil {
			return fmt.Errorf("import cancelled: %w", err)
		}
		if r.req.Stop != nil && r.req.Stop.Err() != nil {
			return fmt.Errorf("import cancelled by the person importing: %w", r.req.Stop.Err())
		}
		if final := r.plan.refs[it.Chat.Key]; final != nil {
			it.Chat = final
		}
		if r.chat == nil || r.chat.ref.Key != it.Chat.Key {
			if err = r.beginChat(ctx, it.Chat); err != nil {
				return err
			}
		}
		if err = r.importItem(ctx, it); err != nil {
			return err
		}
		r.done++
		r.report(false)
	}
	r.report(true)
	return nil
}

func (r *run) report(force bool) {
	if r.req.Progress == nil || !force && time.Since(r.lastReport) < 100*time.Millisecond {
		return
	}
	r.lastReport = time.Now()
	elapsed := time.Since(r.started)
	p := Progress{Total: r.plan.total, Done: r.done, Imported: r.sum.Imported, Skipped: r.sum.Skipped,
		Failed: r.sum.Failed, ElapsedMS: elapsed.Milliseconds()}
	if r.chat != nil {
		p.Chat = r.chat.ref.Name
	}
	if r.done > 0 && r.done < r.plan.total {
		p.ETAMS = (elapsed * time.Duration(r.plan.total-r.done) / time.Duration(r.done)).Milliseconds()
	}
	r.req.Progress(p)
}

// chatRun is the state of the chat being imported.
type chatRun struct {
	ref     *ChatRef
	scope   string
	room    id.RoomID
	kind    RoomKind
	done    map[string]id.EventID
	result  *RoomResult
	joined  map[id.UserID]bool
	senders map[string]bridgev2.MatrixAPI
	key     *networkid.PortalKey
	// plain: the room was not encrypted when last looked at (plainCheckedAt), see directSend.
	plain          bool
	plainCheckedAt time.Time
}

func (r *run) beginChat(ctx context.Context, ref *ChatRef) error {
	target, err := r.resolveTarget(ctx, ref)
	if err != nil {
		return fmt.Errorf("chat %q: %w", ref.Name, err)
	}
	// What was sent so far is recorded before the list of imported messages is read.
	if err = r.rec.flush(); err != nil {
		return err
	}
	done, err := r.im.store.Imported(ctx, target.scope)
	if err != nil {
		return err
	}
	target.done = done
	r.sum.Rooms = append(r.sum.Rooms, RoomResult{Chat: ref.Name, RoomID: target.room, Kind: target.kind, Note: target.result.Note})
	target.result = &r.sum.Rooms[len(r.sum.Rooms)-1]
	r.chat = target
	r.prepareSenders(ctx)
	return nil
}

// txnID makes retries of the same message idempotent on the homeserver as well: a send that
// succeeded just before a crash is answered with the same event when repeated.
func txnID(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return "passerelle-import-" + hex.EncodeToString(sum[:16])
}

func (r *run) importItem(ctx context.Context, it *Item) error {
	c := r.chat
	if _, ok := c.done[it.Key]; ok {
		r.sum.Skipped++
		c.result.Skipped++
		return nil
	}
	evt, err := r.send(ctx, it)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("import cancelled: %w", ctx.Err())
		}
		r.sum.Failed++
		c.result.Failed++
		if len(r.sum.Failures) < maxListedFailures {
			r.sum.Failures = append(r.sum.Failures, Failure{Pos: it.Pos, Key: it.Key, Reason: err.Error()})
		}
		zerolog.Ctx(ctx).Warn().Err(err).Str("key", it.Key).Str("pos", it.Pos).Msg("Failed to import message")
		r.consecutive++
		if r.consecutive >= maxConsecutiveFailures {
			return fmt.Errorf("stopped after %d failures in a row (last: %w); re-run the import to continue", r.consecutive, err)
		}
		return nil
	}
	r.consecutive = 0
	if err = r.rec.add(ImportedRow{Scope: c.scope, Key: it.Key, Event: evt, Time: it.Time}, r.portalMessage(it, evt)); err != nil {
		return err
	}
	c.done[it.Key] = evt
	r.sum.Imported++
	c.result.Imported++
	return nil
}

// send converts one item and sends it as its author with its original time.
func (r *run) send(ctx context.Context, it *Item) (id.EventID, error) {
	c := r.chat
	intent, err := r.intentFor(ctx, it.Sender)
	if err != nil {
		return "", err
	}
	if !c.joined[intent.GetMXID()] {
		if err = r.joinRoom(ctx, intent); err != nil {
			return "", err
		}
		c.joined[intent.GetMXID()] = true
	}
	var evtType event.Type
	var content *event.Content
	if it.Media != nil {
		evtType, content, err = r.mediaContent(ctx, intent, it)
		if err != nil {
			return "", err
		}
	} else {
		evtType, content = textMessage(it)
	}
	if it.ReplyTo != "" {
		if target, ok := c.done[it.ReplyTo]; ok {
			setReply(content, target)
		}
	}
	extra := &bridgev2.MatrixSendExtra{Timestamp: it.Time, TransactionID: txnID(c.scope, it.Key)}
	resp, sent, err := r.directSend(ctx, intent, evtType, content, extra)
	if !sent || err != nil {
		// Through bridgev2, also when the direct send failed: it re-joins a ghost that was
		// removed, and the same transaction ID keeps a send that did arrive to one event.
		resp, err = intent.SendMessage(ctx, c.room, evtType, content, extra)
	}
	if err != nil {
		return "", fmt.Errorf("send %s: %w", evtType.Type, err)
	}
	return resp.EventID, nil
}

// joinRoom makes intent a member of the chat's room. Safe for concurrent use.
func (r *run) joinRoom(ctx context.Context, intent bridgev2.MatrixAPI) error {
	c := r.chat
	// In rooms the bot created, invite first: a ghost's bare join would be refused (invite-only)
	// and cost the homeserver a rejected event before the appservice library invites anyway.
	if c.kind != KindPortal {
		if err := r.im.br.Bot.EnsureInvited(ctx, c.room, intent.GetMXID()); err != nil {
			return fmt.Errorf("invite %s to %s: %w", intent.GetMXID(), c.room, err)
		}
	}
	if err := intent.EnsureJoined(ctx, c.room); err != nil {
		return fmt.Errorf("join %s to %s: %w", intent.GetMXID(), c.room, err)
	}
	return nil
}

func setReply(content *event.Content, target id.EventID) {
	switch parsed := content.Parsed.(type) {
	case *event.MessageEventContent:
		parsed.RelatesTo = (&event.RelatesTo{}).SetReplyTo(target)
	case *event.PollStartEventContent:
		parsed.RelatesTo = (&event.RelatesTo{}).SetReplyTo(target)
	}
}

// maxUploadSize is the homeserver's m.upload.size as the bridge fetched it at start.
func (r *run) maxUploadSize() int64 {
	if r.im.MaxUploadSize > 0 {
		return r.im.MaxUploadSize
	}
	if mc, ok := mxconn.Of(r.im.br.Matrix); ok && mc.MediaConfig.UploadSize > 0 {
		return mc.MediaConfig.UploadSize
	}
	return 50 << 20
}

// mediaContent uploads an attachment and builds its message; a missing or too large file
// becomes a notice in its place, so the timeline shows that something was there.
func (r *run) mediaContent(ctx context.Context, intent bridgev2.MatrixAPI, it *Item) (event.Type, *event.Content, error) {
	md := it.Media
	if md.Path == "" {
		return event.EventMessage, missingMediaNotice(it, md, md.Missing), nil
	}
	f, err := r.src.OpenMedia(md.Path)
	if err != nil {
		return event.EventMessage, missingMediaNotice(it, md, "the file is missing from the export"), nil
	}
	defer f.Close()
	limit := r.maxUploadSize()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return event.Type{}, nil, fmt.Errorf("read %s: %w", md.Path, err)
	}
	if int64(len(data)) > limit {
		size := md.Size
		if size <= limit {
			size = int64(len(data))
		}
		reason := fmt.Sprintf("larger than the homeserver's upload limit of %s", humanSize(limit))
		return event.EventMessage, missingMediaNotice(it, md, reason), nil
	}
	mimeType := md.MIME
	if mimeType == "" || mimeType == "application/octet-stream" {
		mimeType = mime.TypeByExtension(strings.ToLower(path.Ext(md.Path)))
	}
	if mimeType == "" {
		mimeType = http.DetectContentType(data)
	}
	mimeType, _, _ = strings.Cut(mimeType, ";")
	evtType, content := mediaMessage(it, md, int64(len(data)), mimeType)
	uri, file, err := intent.UploadMedia(ctx, r.chat.room, data, content.FileName, mimeType)
	if err != nil {
		return event.Type{}, nil, fmt.Errorf("upload %s: %w", md.Path, err)
	}
	if file != nil {
		file.URL = uri
		content.File = file
	} else {
		content.URL = uri
	}
	return evtType, &event.Content{Parsed: content}, nil
}

// portalMessage is the row that adds a message imported into a Telegram portal to bridgev2's
// message table (written by the recorder), so that live replies, edits and reactions to old
// messages find their event, and catch-up backfill starts after the imported history; nil for
// other rooms. WhatsApp exports carry no message IDs.
func (r *run) portalMessage(it *Item, evt id.EventID) *database.Message {
	c := r.chat
	if c.kind != KindPortal || c.key == nil || it.RemoteID <= 0 || r.src.Network() != portal.Telegram || it.Chat.TGPeer == nil {
		return nil
	}
	self := r.selfTG()
	if self == 0 {
		return nil
	}
	msg := &database.Message{
		ID:        portal.TGMessageID(portal.TGMessageScope(*it.Chat.TGPeer, self), it.RemoteID),
		MXID:      evt,
		Room:      *c.key,
		Timestamp: it.Time,
		Metadata:  &portal.MessageMeta{},
	}
	if it.Sender.TG != nil {
		msg.SenderID = portal.TGUserID(*it.Sender.TG)
	}
	return msg
}
