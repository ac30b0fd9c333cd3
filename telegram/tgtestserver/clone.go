package tgtestserver

import (
	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
)

// gotd's Encode writes the Flags field of the object it encodes, so one TL
// object must never be encoded by two goroutines at once. Stored values
// (entities, attributes, actions) are only encoded under the store lock;
// everything handed to a push or an RPC result is a fresh copy made here.

func cloneEntities(in []tg.MessageEntityClass) []tg.MessageEntityClass {
	if in == nil {
		return nil
	}
	out := make([]tg.MessageEntityClass, 0, len(in))
	for _, e := range in {
		var b bin.Buffer
		if err := e.Encode(&b); err != nil {
			continue
		}
		c, err := tg.DecodeMessageEntity(&b)
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out
}

func cloneAttributes(in []tg.DocumentAttributeClass) []tg.DocumentAttributeClass {
	out := make([]tg.DocumentAttributeClass, 0, len(in))
	for _, a := range in {
		var b bin.Buffer
		if err := a.Encode(&b); err != nil {
			continue
		}
		c, err := tg.DecodeDocumentAttribute(&b)
		if err != nil {
			continue
		}
		out = append(out, c)
	}
	return out
}

func cloneAction(in tg.MessageActionClass) tg.MessageActionClass {
	if in == nil {
		return nil
	}
	var b bin.Buffer
	if err := in.Encode(&b); err != nil {
		return in
	}
	c, err := tg.DecodeMessageAction(&b)
	if err != nil {
		return in
	}
	return c
}
