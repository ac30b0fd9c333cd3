package whatsapp

import (
	"reflect"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waVnameCert"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// TestJournalRoundTrip: a message event read back from the journal is the event whatsmeow
// delivered: info (JIDs with agent and device, timestamps, bot and meta info), the message
// unwrapped the same way from the raw one, and the protobuf parts.
func TestJournalRoundTrip(t *testing.T) {
	ts := time.Unix(1764200000, 0)
	group := types.NewJID("120363000000000001", types.GroupServer)
	sender := types.JID{User: "33612345678", RawAgent: 1, Device: 3, Server: types.DefaultUserServer}
	details, err := proto.Marshal(&waVnameCert.VerifiedNameCertificate_Details{VerifiedName: proto.String("Acme")})
	if err != nil {
		t.Fatal(err)
	}
	cert := &waVnameCert.VerifiedNameCertificate{Details: details, Signature: []byte{1, 2, 3}}
	info := types.MessageInfo{
		MessageSource: types.MessageSource{
			Chat: group, Sender: sender, IsGroup: true, AddressingMode: types.AddressingModeLID,
			SenderAlt: types.NewJID("98765432101", types.HiddenUserServer),
		},
		ID: "3EB0JOURNAL", ServerID: 42, Type: "text", PushName: "Bob", Timestamp: ts, Category: "peer",
		Edit:        types.EditAttributeMessageEdit,
		MsgMetaInfo: types.MsgMetaInfo{TargetID: "3EB0TARGET", TargetSender: sender.ToNonAD()},
	}
	text := &waE2E.Message{Conversation: proto.String("hello")}
	tests := []struct {
		name string
		evt  *events.Message
	}{
		{"plain", (&events.Message{Info: info, RawMessage: text}).UnwrapRaw()},
		{"ephemeral view-once", (&events.Message{Info: info, RetryCount: 2, RawMessage: &waE2E.Message{
			EphemeralMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{
				ViewOnceMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{
					ImageMessage: &waE2E.ImageMessage{Caption: proto.String("once"), FileLength: proto.Uint64(10)},
				}},
			}},
		}}).UnwrapRaw()},
		{"sent from own phone", (&events.Message{Info: info, RawMessage: &waE2E.Message{
			DeviceSentMessage: &waE2E.DeviceSentMessage{DestinationJID: proto.String("33699999999@s.whatsapp.net"), Message: text},
		}}).UnwrapRaw()},
		{"verified business, from a history request", func() *events.Message {
			i := info
			i.VerifiedName = &types.VerifiedName{Certificate: cert, Details: &waVnameCert.VerifiedNameCertificate_Details{VerifiedName: proto.String("Acme")}}
			return (&events.Message{Info: i, RawMessage: text, UnavailableRequestID: "REQ1",
				SourceWebMsg: &waWeb.WebMessageInfo{Message: text, MessageTimestamp: proto.Uint64(1764200000)}}).UnwrapRaw()
		}()},
		{"channel edit", (&events.Message{Info: info, RawMessage: text,
			NewsletterMeta: &events.NewsletterMessageMeta{EditTS: ts.Add(time.Minute), OriginalTS: ts}}).UnwrapRaw()},
		{"built without raw message", &events.Message{Info: info, Message: text, IsEdit: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload, err := encodeJournaled(tt.evt)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeJournaled(payload)
			if err != nil {
				t.Fatal(err)
			}
			for _, pair := range []struct {
				what      string
				want, got proto.Message
			}{
				{"message", tt.evt.Message, got.Message},
				{"raw message", tt.evt.RawMessage, got.RawMessage},
				{"source web message", tt.evt.SourceWebMsg, got.SourceWebMsg},
			} {
				if !proto.Equal(pair.want, pair.got) {
					t.Errorf("%s = %v, want %v", pair.what, pair.got, pair.want)
				}
			}
			if vn := tt.evt.Info.VerifiedName; vn != nil {
				gvn := got.Info.VerifiedName
				if gvn == nil || !proto.Equal(vn.Certificate, gvn.Certificate) || !proto.Equal(vn.Details, gvn.Details) {
					t.Errorf("verified name = %v, want %v", gvn, vn)
				}
			}
			want := comparable(tt.evt)
			if have := comparable(got); !reflect.DeepEqual(have, want) {
				t.Errorf("event =\n%+v\nwant\n%+v", have, want)
			}
		})
	}
	if _, err := decodeJournaled([]byte(`{"info":`)); err == nil {
		t.Error("a truncated entry decoded")
	}
}

// comparable is an event without its protobuf parts (compared with proto.Equal) and with times
// in UTC (JSON keeps the instant, not the location).
func comparable(evt *events.Message) events.Message {
	out := *evt
	out.Message, out.RawMessage, out.SourceWebMsg, out.Info.VerifiedName = nil, nil, nil, nil
	out.Info.Timestamp = out.Info.Timestamp.UTC()
	out.Info.MsgBotInfo.EditSenderTimestampMS = out.Info.MsgBotInfo.EditSenderTimestampMS.UTC()
	if evt.NewsletterMeta != nil {
		out.NewsletterMeta = &events.NewsletterMessageMeta{EditTS: evt.NewsletterMeta.EditTS.UTC(), OriginalTS: evt.NewsletterMeta.OriginalTS.UTC()}
	}
	if evt.Info.DeviceSentMeta != nil {
		meta := *evt.Info.DeviceSentMeta
		out.Info.DeviceSentMeta = &meta
	}
	return out
}
