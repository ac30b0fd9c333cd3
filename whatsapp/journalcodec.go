package whatsapp

import (
	"encoding/json"
	"fmt"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waVnameCert"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// journaledMessage is how a message event is kept in the journal: the raw message as whatsmeow
// received it (unwrapped again on the way out), the protobuf parts as protobuf.
type journaledMessage struct {
	Info                 types.MessageInfo             `json:"info"`
	VerifiedCert         []byte                        `json:"verified_cert,omitempty"`
	Raw                  []byte                        `json:"raw,omitempty"`
	Message              []byte                        `json:"message,omitempty"`
	SourceWebMsg         []byte                        `json:"source_web_msg,omitempty"`
	UnavailableRequestID types.MessageID               `json:"unavailable_request_id,omitempty"`
	RetryCount           int                           `json:"retry_count,omitempty"`
	NewsletterMeta       *events.NewsletterMessageMeta `json:"newsletter_meta,omitempty"`
	Flags                journaledFlags                `json:"flags"`
}

type journaledFlags struct {
	Ephemeral, ViewOnce, ViewOnceV2, ViewOnceV2Extension, DocumentWithCaption, LottieSticker, BotInvoke, Edit bool
}

func encodeJournaled(msg *events.Message) ([]byte, error) {
	j := journaledMessage{
		Info:                 msg.Info,
		UnavailableRequestID: msg.UnavailableRequestID,
		RetryCount:           msg.RetryCount,
		NewsletterMeta:       msg.NewsletterMeta,
		Flags: journaledFlags{msg.IsEphemeral, msg.IsViewOnce, msg.IsViewOnceV2, msg.IsViewOnceV2Extension,
			msg.IsDocumentWithCaption, msg.IsLottieSticker, msg.IsBotInvoke, msg.IsEdit},
	}
	j.Info.VerifiedName = nil
	var err error
	marshal := func(m proto.Message) []byte {
		if err != nil {
			return nil
		}
		var b []byte
		b, err = proto.MarshalOptions{AllowPartial: true}.Marshal(m)
		return b
	}
	if vn := msg.Info.VerifiedName; vn != nil && vn.Certificate != nil {
		j.VerifiedCert = marshal(vn.Certificate)
	}
	if msg.RawMessage != nil {
		j.Raw = marshal(msg.RawMessage)
	} else if msg.Message != nil {
		j.Message = marshal(msg.Message)
	}
	if msg.SourceWebMsg != nil {
		j.SourceWebMsg = marshal(msg.SourceWebMsg)
	}
	if err != nil {
		return nil, fmt.Errorf("encode message %s for the journal: %w", msg.Info.ID, err)
	}
	payload, err := json.Marshal(&j)
	if err != nil {
		return nil, fmt.Errorf("encode message %s for the journal: %w", msg.Info.ID, err)
	}
	return payload, nil
}

func decodeJournaled(payload []byte) (*events.Message, error) {
	var j journaledMessage
	if err := json.Unmarshal(payload, &j); err != nil {
		return nil, fmt.Errorf("decode journaled message: %w", err)
	}
	msg := &events.Message{
		Info:                 j.Info,
		UnavailableRequestID: j.UnavailableRequestID,
		RetryCount:           j.RetryCount,
		NewsletterMeta:       j.NewsletterMeta,
	}
	if j.VerifiedCert != nil {
		cert := &waVnameCert.VerifiedNameCertificate{}
		if err := unmarshalPartial(j.VerifiedCert, cert); err != nil {
			return nil, fmt.Errorf("decode verified name of journaled message %s: %w", j.Info.ID, err)
		}
		details := &waVnameCert.VerifiedNameCertificate_Details{}
		if err := unmarshalPartial(cert.GetDetails(), details); err != nil {
			return nil, fmt.Errorf("decode verified name of journaled message %s: %w", j.Info.ID, err)
		}
		msg.Info.VerifiedName = &types.VerifiedName{Certificate: cert, Details: details}
	}
	if j.SourceWebMsg != nil {
		msg.SourceWebMsg = &waWeb.WebMessageInfo{}
		if err := unmarshalPartial(j.SourceWebMsg, msg.SourceWebMsg); err != nil {
			return nil, fmt.Errorf("decode journaled message %s: %w", j.Info.ID, err)
		}
	}
	switch {
	case j.Raw != nil:
		msg.RawMessage = &waE2E.Message{}
		if err := unmarshalPartial(j.Raw, msg.RawMessage); err != nil {
			return nil, fmt.Errorf("decode journaled message %s: %w", j.Info.ID, err)
		}
		msg.UnwrapRaw()
	case j.Message != nil:
		msg.Message = &waE2E.Message{}
		if err := unmarshalPartial(j.Message, msg.Message); err != nil {
			return nil, fmt.Errorf("decode journaled message %s: %w", j.Info.ID, err)
		}
	}
	f := j.Flags
	msg.IsEphemeral, msg.IsViewOnce, msg.IsViewOnceV2, msg.IsViewOnceV2Extension = f.Ephemeral, f.ViewOnce, f.ViewOnceV2, f.ViewOnceV2Extension
	msg.IsDocumentWithCaption, msg.IsLottieSticker, msg.IsBotInvoke, msg.IsEdit = f.DocumentWithCaption, f.LottieSticker, f.BotInvoke, f.Edit
	return msg, nil
}

// unmarshalPartial reads back what encodeJournaled wrote, which keeps messages whose required
// fields whatsmeow left unset.
func unmarshalPartial(b []byte, m proto.Message) error {
	return proto.UnmarshalOptions{AllowPartial: true}.Unmarshal(b, m)
}
