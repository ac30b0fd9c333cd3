package watestserver

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.mau.fi/util/jsontime"
	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// newsletter is a WhatsApp channel: an admin posts, subscribers read. Channel messages are not
// end-to-end encrypted: the server hands subscribers the plaintext protobuf, as WhatsApp does.
type newsletter struct {
	id           string
	name         string
	description  string
	created      time.Time
	subscribers  []string // phone numbers
	nextServerID int
}

func (n *newsletter) jid() types.JID { return types.NewJID(n.id, types.NewsletterServer) }

// CreateNewsletter creates a channel with the given subscribers (phone numbers of existing
// accounts) and returns its JID.
func (srv *Server) CreateNewsletter(name, description string, subscribers ...string) (types.JID, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, phone := range subscribers {
		if srv.accounts[phone] == nil {
			return types.EmptyJID, fmt.Errorf("create newsletter %q: no account %s", name, phone)
		}
	}
	if srv.newsletters == nil {
		srv.newsletters = map[string]*newsletter{}
	}
	srv.idCounter++
	n := &newsletter{
		id:           "1203632" + strconv.FormatUint(1000000000+srv.idCounter, 10),
		name:         name,
		description:  description,
		created:      time.Now().Truncate(time.Second),
		subscribers:  append([]string(nil), subscribers...),
		nextServerID: 100,
	}
	srv.newsletters[n.id] = n
	return n.jid(), nil
}

// PostNewsletter posts a message to a channel: every device of every subscriber gets it
// (queued for offline devices) as a plaintext message from the channel. It returns the message ID.
func (srv *Server) PostNewsletter(ctx context.Context, channel types.JID, msg *waE2E.Message) (types.MessageID, error) {
	raw, err := proto.Marshal(msg)
	if err != nil {
		return "", fmt.Errorf("post to newsletter %s: marshal message: %w", channel, err)
	}
	srv.mu.Lock()
	n := srv.newsletters[channel.User]
	if n == nil || channel.Server != types.NewsletterServer {
		srv.mu.Unlock()
		return "", fmt.Errorf("post to newsletter %s: no such newsletter", channel)
	}
	id := "3EB0" + strings.ToUpper(randomString(16))
	n.nextServerID++
	typ := "text"
	if msg.GetConversation() == "" && msg.GetExtendedTextMessage() == nil {
		typ = "media"
	}
	node := waBinary.Node{
		Tag: "message",
		Attrs: waBinary.Attrs{
			"from": n.jid(), "id": id, "server_id": n.nextServerID, "t": time.Now().Unix(), "type": typ,
		},
		Content: []waBinary.Node{{Tag: "plaintext", Content: raw}},
	}
	var sends []func()
	for _, phone := range n.subscribers {
		if acct := srv.accounts[phone]; acct != nil {
			for _, dev := range acct.sortedDevices() {
				sends = append(sends, srv.enqueueLocked(dev, &queued{node: node, class: "message", id: id, from: n.jid()}))
			}
		}
	}
	srv.mu.Unlock()
	runAll(sends)
	return id, nil
}

// handleMex answers WhatsApp's GraphQL queries that the test server knows: the metadata of a
// channel (whatsmeow's GetNewsletterInfo). Other queries get a GraphQL error.
func (srv *Server) handleMex(c *conn, node *waBinary.Node) {
	query, _ := node.GetOptionalChildByTag("query")
	raw, _ := query.Content.([]byte)
	var req struct {
		Variables struct {
			Input struct {
				Key  string `json:"key"`
				Type string `json:"type"`
			} `json:"input"`
		} `json:"variables"`
	}
	_ = json.Unmarshal(raw, &req)
	var data any
	var errs []map[string]any
	jid, err := types.ParseJID(req.Variables.Input.Key)
	srv.mu.Lock()
	var n *newsletter
	if err == nil && jid.Server == types.NewsletterServer {
		n = srv.newsletters[jid.User]
	}
	if n != nil {
		isSubscriber := false
		for _, phone := range n.subscribers {
			isSubscriber = isSubscriber || phone == c.device.acct.phone
		}
		role := types.NewsletterRoleGuest
		if isSubscriber {
			role = types.NewsletterRoleSubscriber
		}
		data = map[string]any{"xwa2_newsletter": &types.NewsletterMetadata{
			ID:    n.jid(),
			State: types.WrappedNewsletterState{Type: types.NewsletterStateActive},
			ThreadMeta: types.NewsletterThreadMetadata{
				CreationTime:      jsontime.UnixString{Time: n.created},
				Name:              types.NewsletterText{Text: n.name, ID: n.id + "-name", UpdateTime: jsontime.UnixMicroString{Time: n.created}},
				Description:       types.NewsletterText{Text: n.description, ID: n.id + "-desc", UpdateTime: jsontime.UnixMicroString{Time: n.created}},
				SubscriberCount:   len(n.subscribers),
				VerificationState: types.NewsletterVerificationStateUnverified,
			},
			ViewerMeta: &types.NewsletterViewerMetadata{Mute: types.NewsletterMuteOff, Role: role},
		}}
	} else {
		errs = append(errs, map[string]any{"message": "not found", "extensions": map[string]any{"error_code": 404}})
	}
	srv.mu.Unlock()
	body, err := json.Marshal(map[string]any{"data": data, "errors": errs})
	if err != nil {
		srv.replyIQError(c, node, 500, "internal-server-error")
		return
	}
	srv.replyIQ(c, node, []waBinary.Node{{Tag: "result", Content: body}})
}
