package waexport

import (
	"regexp"
	"strings"
)

// name matches a person in a system line; names containing ": " or a line
// break are refused so that "Alice: Bob left" stays a message from Alice.
const name = `((?:[^:\n]|:[^ \n])+?)`

// quoted matches a subject in straight or curly quotes.
const quoted = `["“]((?s).*)["”]`

type systemRule struct {
	// lit is a piece of text the line must contain; checking it first
	// spares running every expression on every message.
	lit    string
	re     *regexp.Regexp
	action string
	// roles of the submatches, in order: "actor", "members", "subject",
	// "old".
	roles []string
}

func rule(action, lit, expr string, roles ...string) systemRule {
	return systemRule{lit: lit, re: regexp.MustCompile("^" + expr + "$"), action: action, roles: roles}
}

// systemRules recognise English system lines of Android and iOS exports.
var systemRules = []systemRule{
	rule("create_group", " created group ", name+` created group `+quoted, "actor", "subject"),
	rule("create_group", " created this group", name+` created this group`, "actor"),
	rule("add_members", " added ", name+` added `+name, "actor", "members"),
	rule("remove_members", " removed ", name+` removed `+name, "actor", "members"),
	rule("leave", " left", name+` left`, "actor"),
	rule("join", " joined ", name+` joined using this group's invite link`, "actor"),
	rule("join", " joined ", name+` joined (?:using a group link|from the community|via invite link|this group)`, "actor"),
	rule("change_subject", " changed ", name+` changed the (?:subject|group name) from `+quoted+` to `+quoted, "actor", "old", "subject"),
	rule("change_subject", " changed ", name+` changed (?:the subject|this group's subject|the group name) to `+quoted, "actor", "subject"),
	rule("change_icon", " icon", name+` changed (?:this group's|the group) icon`, "actor"),
	rule("delete_icon", " icon", name+` deleted (?:this group's|the group) icon`, "actor"),
	rule("change_description", " description", name+` changed the group description`, "actor"),
	rule("change_description", " description", name+` deleted the group description`, "actor"),
	rule("change_settings", " settings", name+` changed (?:this group's|the group's|the) settings\b.*`, "actor"),
	rule("change_number", " number", name+` changed their phone number to a new number\..*`, "actor"),
	rule("change_number", " changed to ", name+` changed to `+name, "actor", "members"),
	rule("pin_message", " pinned ", name+` pinned a message`, "actor"),
	rule("security_code_changed", "security code", `Your security code with `+name+` changed\..*`, "actor"),
	rule("security_code_changed", "security code", name+`'s security code changed\..*`, "actor"),
	rule("disappearing_messages", "isappearing messages", `Disappearing messages (?:were|are) turned (?:on|off)\b.*`),
	rule("disappearing_messages", "disappearing messages", name+` (?:turned on|turned off|changed|uses|use) (?:the )?disappearing messages\b.*`, "actor"),
	rule("admin", "admin", `You're (?:now|no longer) an admin`),
	rule("admin", " admin", name+` (?:is|are) now an admin`, "actor"),
	rule("block", "blocked this", `You (?:blocked|unblocked) this (?:contact|business)\..*`),
	rule("other", "This ", `This (?:chat|business) (?:is|uses)\b.*`),
	rule("other", "Waiting for this message", `Waiting for this message\..*`),
}

// matchSystem recognises a system line (its bidi marks already removed).
func matchSystem(text string) (*Service, bool) {
	if hasAnyPrefix(text, encryptionNotices) {
		return &Service{Action: "encryption_notice", Text: text}, true
	}
	for _, r := range systemRules {
		if !strings.Contains(text, r.lit) {
			continue
		}
		sm := r.re.FindStringSubmatch(text)
		if sm == nil {
			continue
		}
		s := &Service{Action: r.action, Text: text}
		for i, role := range r.roles {
			v := sm[i+1]
			switch role {
			case "actor":
				s.Actor = parseSender(v)
			case "members":
				for _, m := range splitNames(v) {
					s.Members = append(s.Members, parseSender(m))
				}
			case "subject":
				s.Subject = v
			case "old":
				s.OldSubject = v
			}
		}
		return s, true
	}
	return nil, false
}

// splitNames splits "Bob, Carol and Dave" into names.
func splitNames(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ", ") {
		for _, p := range strings.Split(part, " and ") {
			if p = strings.TrimSpace(trimBidi(p)); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

// callRe recognises call entries, which iOS writes as messages.
var callRe = regexp.MustCompile(`(?i)^(?:missed )?(?:group )?(?:voice|video) call\b.*`)
