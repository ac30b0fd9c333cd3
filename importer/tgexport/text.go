package tgexport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// entityTypes are the text entity types this package renders.
var entityTypes = map[string]bool{
	"plain": true, "bold": true, "italic": true, "underline": true,
	"strikethrough": true, "spoiler": true, "code": true, "pre": true,
	"text_link": true, "link": true, "mention": true, "mention_name": true,
	"hashtag": true, "cashtag": true, "bot_command": true, "email": true,
	"phone": true, "bank_card": true, "blockquote": true, "custom_emoji": true,
}

// decodeText reads "text_entities" (preferred: always an array of typed
// pieces) or else "text" (a string, or an array of strings and typed
// pieces) into msg.Text.
func decodeText(f *fields, msg *Message, path string) {
	// When both are present they hold the same pieces; text_entities has
	// the uniform shape.
	textRaw, hasText := f.take("text")
	entRaw, hasEnt := f.take("text_entities")
	var (
		ents  []Entity
		unsup []Unsupported
		err   error
		field string
	)
	switch {
	case hasEnt:
		field = ".text_entities"
		ents, unsup, err = parseEntities(entRaw, path+field, false)
		if err == nil && len(ents) == 0 && hasText {
			// An empty entity list next to a non-empty text: trust the
			// text rather than lose it.
			field = ".text"
			ents, unsup, err = parseEntities(textRaw, path+field, true)
		}
	case hasText:
		field = ".text"
		ents, unsup, err = parseEntities(textRaw, path+field, true)
	default:
		return
	}
	if err != nil {
		if fe, ok := err.(*fieldError); ok {
			f.err = &fieldError{field: f.pre + field + fe.field, err: fe.err}
		} else if f.err == nil {
			f.err = &fieldError{field: f.pre + field, err: err}
		}
		return
	}
	msg.Unsupported = append(msg.Unsupported, unsup...)
	msg.Text = Text{Entities: ents, Plain: joinEntities(ents), HTML: EntitiesHTML(ents, nil)}
}

func joinEntities(ents []Entity) string {
	var b strings.Builder
	for _, e := range ents {
		b.WriteString(e.Text)
	}
	return b.String()
}

// parseEntities reads an entity array. With loose set, plain strings are
// accepted in the array and the whole value may be a single string (the
// "text" field's forms).
func parseEntities(raw json.RawMessage, path string, loose bool) ([]Entity, []Unsupported, error) {
	if loose && len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, nil, err
		}
		if s == "" {
			return nil, nil, nil
		}
		return []Entity{{Type: "plain", Text: s}}, nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		if loose {
			return nil, nil, fmt.Errorf("want a string or an array, found %s", kindOf(raw))
		}
		return nil, nil, fmt.Errorf("want an array, found %s", kindOf(raw))
	}
	var (
		ents  []Entity
		unsup []Unsupported
	)
	for i, item := range items {
		at := index(i)
		if loose && len(item) > 0 && item[0] == '"' {
			s, ok := rawString(item)
			if !ok {
				return nil, nil, &fieldError{field: at, err: fmt.Errorf("want a string, found %s", kindOf(item))}
			}
			ents = append(ents, Entity{Type: "plain", Text: s})
			continue
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(item, &m); err != nil || m == nil {
			return nil, nil, &fieldError{field: at, err: fmt.Errorf("want a text entity object, found %s", kindOf(item))}
		}
		ef := &fields{m: m, pre: at}
		e := Entity{Type: ef.str("type")}
		if !ef.has("text") && ef.err == nil {
			ef.fail("text", fmt.Errorf("a text entity must have a \"text\""))
		}
		e.Text = ef.str("text")
		e.Href = ef.str("href")
		e.UserID = ef.int("user_id")
		e.Language = ef.str("language")
		if raw, ok := ef.take("document_id"); ok {
			if n, err := rawInt(raw); err == nil {
				e.DocumentID = strconv.FormatInt(n, 10)
			} else {
				var s string
				if json.Unmarshal(raw, &s) == nil {
					e.DocumentID = s
				}
			}
		}
		e.Collapsed = ef.bool("collapsed")
		if ef.err != nil {
			return nil, nil, ef.err
		}
		if e.Type == "" {
			return nil, nil, &fieldError{field: at + ".type", err: fmt.Errorf("a text entity must have a \"type\"")}
		}
		if !entityTypes[e.Type] {
			unsup = append(unsup, Unsupported{Path: path + at, Raw: item})
		}
		// Fields this package does not know: keep them.
		ef.pre = ""
		unsup = append(unsup, ef.rest(path+at)...)
		ents = append(ents, e)
	}
	return ents, unsup, nil
}
