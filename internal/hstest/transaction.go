package hstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
)

// DeliverTransaction sends txn to the appservice at reg.URL exactly as a homeserver would: PUT
// /_matrix/app/v1/transactions/{txnID} with "Authorization: Bearer <hs_token>". Dendrite v0.13.8
// never pushes ephemeral events (typing, receipts) to appservices and does not forward a local
// user's redactions, so tests of those paths deliver the events themselves with this. An empty
// txnID gets a random one; pass the same ID twice to test duplicate handling.
func DeliverTransaction(ctx context.Context, reg *appservice.Registration, txnID string, txn *appservice.Transaction) error {
	if reg == nil || reg.URL == "" {
		return fmt.Errorf("deliver transaction: the registration has no url")
	}
	if txnID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		txnID = "hstest-" + hex.EncodeToString(b)
	}
	if txn.Events == nil {
		txn.Events = []*event.Event{}
	}
	body, err := json.Marshal(txn)
	if err != nil {
		return fmt.Errorf("deliver transaction %s: encode: %w", txnID, err)
	}
	target := strings.TrimRight(reg.URL, "/") + "/_matrix/app/v1/transactions/" + url.PathEscape(txnID)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("deliver transaction %s: %w", txnID, err)
	}
	req.Header.Set("Authorization", "Bearer "+reg.ServerToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("deliver transaction %s to %s: %w", txnID, target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("deliver transaction %s to %s: HTTP %d: %s", txnID, target, resp.StatusCode, msg)
	}
	return nil
}
