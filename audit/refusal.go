package audit

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Outcomes an entry can have. Logins also end "cancelled".
const (
	OutcomeOK        = "ok"
	OutcomeFailed    = "failed"
	OutcomeRefused   = "refused"
	OutcomeCancelled = "cancelled"
)

// MaxDetailLen bounds each detail value: details explain an entry, they are not a place for
// whole replies or request bodies.
const MaxDetailLen = 200

// secretWords are the words of detail keys that may never be stored, whatever a caller passes
// ("token", "shared_secret", "login-code"…): a slip in a caller must not put a token in the
// table or the log.
var secretWords = map[string]bool{
	"secret": true, "token": true, "password": true, "passwd": true, "authorization": true,
	"cookie": true, "cookies": true, "code": true, "key": true, "otp": true, "pin": true,
}

func isSecretKey(k string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(k), func(r rune) bool { return r == '_' || r == '-' || r == '.' || r == ' ' }) {
		if secretWords[w] {
			return true
		}
	}
	return false
}

// cleanDetails drops secret-named keys and bounds the values.
func cleanDetails(in map[string]string) map[string]string {
	if len(in) == 0 {
		return in
	}
	out := make(map[string]string, len(in))
	for k, v := range in {
		if isSecretKey(k) {
			continue
		}
		out[k] = truncate(v, MaxDetailLen)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// DefaultRefusalWindow is how long repeats of one refusal are folded into a count.
const DefaultRefusalWindow = time.Minute

// refusals folds repeated refusals: a client hammering the provisioning API with a wrong secret,
// or a user repeating a command they may not use, leaves one entry per window and key, and the
// next entry says how many were folded, instead of filling the table.
type refusals struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	last   map[string]time.Time
	folded map[string]int
}

// admit reports whether an entry for key is recorded now, and how many were folded before it.
func (r *refusals) admit(key string) (bool, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if r.last == nil {
		r.last, r.folded = map[string]time.Time{}, map[string]int{}
	}
	if t, ok := r.last[key]; ok && now.Sub(t) < r.window {
		r.folded[key]++
		return false, 0
	}
	if len(r.last) > 10000 {
		// Forget quiet keys so a scan with many addresses cannot grow the map without bound.
		for k, t := range r.last {
			if now.Sub(t) >= r.window {
				delete(r.last, k)
				delete(r.folded, k)
			}
		}
	}
	n := r.folded[key]
	r.last[key] = now
	delete(r.folded, key)
	return true, n
}

// RecordRefusal records a refused attempt (outcome "refused") unless an entry with the same key
// was recorded within the window; those are counted and the next entry of the key carries the
// count as details.folded. The key should name who was refused and why (actor or remote address,
// reason), never a secret.
func (l *Log) RecordRefusal(ctx context.Context, key string, e Entry) error {
	ok, folded := l.refused.admit(key)
	if !ok {
		return nil
	}
	e.Outcome = OutcomeRefused
	if folded > 0 {
		details := make(map[string]string, len(e.Details)+1)
		for k, v := range e.Details {
			details[k] = v
		}
		details["folded"] = strconv.Itoa(folded)
		e.Details = details
	}
	return l.Record(ctx, e)
}
