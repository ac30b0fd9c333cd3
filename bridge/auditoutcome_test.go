package bridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"

	"github.com/passerelle-bridge/passerelle/audit"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// TestClassifyReplies runs the replies bridgev2's audited commands give (mautrix v0.32.0).
func TestClassifyReplies(t *testing.T) {
	cases := []struct {
		replies []string
		want    string
	}{
		{[]string{"Messages sent by users who haven't logged in will now be relayed through Marie ([@boss:localhost](https://matrix.to/#/@boss:localhost)'s login)"}, audit.OutcomeOK},
		{[]string{"Stopped relaying messages for users who haven't logged in"}, audit.OutcomeOK},
		{[]string{"Logged out"}, audit.OutcomeOK},
		{nil, audit.OutcomeOK}, // delete-portal answers nothing when it worked
		{[]string{"Please enter your Phone number"}, audit.OutcomeOK},
		{[]string{"You don't have permission to manage the relay in this room"}, audit.OutcomeRefused},
		{[]string{"Only bridge admins can set another user's login as the relay"}, audit.OutcomeRefused},
		{[]string{"This bridge does not allow relay mode"}, audit.OutcomeRefused},
		{[]string{"You're not allowed to use yourself as relay"}, audit.OutcomeRefused},
		{[]string{"User login with ID `tg.1` not found"}, audit.OutcomeFailed},
		{[]string{"Login `wa.1` not found"}, audit.OutcomeFailed},
		{[]string{"Usage: `!pa logout <login ID>`"}, audit.OutcomeFailed},
		{[]string{"Some instructions", "Failed to start login: boom"}, audit.OutcomeFailed},
		{[]string{"This portal doesn't have a relay set."}, audit.OutcomeFailed},
		{[]string{"Failed to save", "You don't have permission"}, audit.OutcomeRefused}, // a refusal wins
	}
	for _, tc := range cases {
		if got, _ := classifyReplies(tc.replies); got != tc.want {
			t.Errorf("classifyReplies(%q) = %s, want %s", tc.replies, got, tc.want)
		}
	}
}

// TestAuditProvisioning puts the middleware in front of handlers answering as bridgev2's
// provisioning auth does and checks the entries on both engines.
func TestAuditProvisioning(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		var logs strings.Builder
		c := New()
		c.Audit = audit.New(db, zerolog.New(&logs))
		if err := c.Audit.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		answer := map[string]mautrix.RespError{
			"/_matrix/provision/v3/missing":   mautrix.MMissingToken.WithMessage("Missing auth token"),
			"/_matrix/provision/v3/wrong":     mautrix.MUnknownToken.WithMessage("Invalid auth token"),
			"/_matrix/provision/v3/forbidden": mautrix.MForbidden.WithMessage("User does not have login permissions"),
		}
		h := c.auditProvisioning(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if e, ok := answer[r.URL.Path]; ok {
				e.Write(w)
				return
			}
			w.WriteHeader(http.StatusOK)
		}))
		cases := []struct {
			path, user     string
			actor, claimed string
			reason         string
		}{
			{"/_matrix/provision/v3/missing", "@a:hs.example", "", "@a:hs.example", "missing shared secret or token"},
			{"/_matrix/provision/v3/wrong", "@b:hs.example", "", "@b:hs.example", "invalid shared secret or token"},
			{"/_matrix/provision/v3/forbidden", "@mallory:evil.example", "@mallory:evil.example", "", "User does not have login permissions"},
			{"/_matrix/provision/v3/fine", "@c:hs.example", "", "", ""},
			{"/_matrix/app/v1/forbidden", "@d:hs.example", "", "", ""}, // not the provisioning API
		}
		for _, tc := range cases {
			req := httptest.NewRequest(http.MethodGet, tc.path+"?user_id="+tc.user+"&access_token=syt_query_secret", nil)
			req.RemoteAddr = "192.0.2.7:5555"
			req.Header.Set("Authorization", "Bearer s3cr3t-shared-secret")
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
		entries, err := c.Audit.List(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]audit.Entry{}
		for _, e := range entries {
			got[e.Target] = e
		}
		for _, tc := range cases {
			e, ok := got[tc.path]
			if tc.reason == "" {
				if ok {
					t.Errorf("%s: entry %+v for an answered request", tc.path, e)
				}
				continue
			}
			if !ok {
				t.Errorf("%s: no entry; have %+v", tc.path, entries)
				continue
			}
			if e.Action != "provisioning" || e.Outcome != audit.OutcomeRefused || e.Actor != tc.actor ||
				e.Details["claimed_user"] != tc.claimed || e.Details["reason"] != tc.reason ||
				e.Details["remote_addr"] != "192.0.2.7" || e.Details["method"] != http.MethodGet {
				t.Errorf("%s: entry %+v", tc.path, e)
			}
		}
		for _, secret := range []string{"s3cr3t-shared-secret", "syt_query_secret"} {
			if strings.Contains(logs.String(), secret) || strings.Contains(string(audit.ExportJSONL(entries)), secret) {
				t.Errorf("%s was recorded", secret)
			}
		}
	})
}
