package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// Phone numbers of the benchmark's WhatsApp accounts on the test server.
const (
	waOwner   = "33710000001" // the account the bridge links to as a companion device
	waContact = "33710000002" // a contact's phone writing to / read by the bridge's account
	waBaseA   = "33710000003" // baseline: a whatsmeow client sending…
	waBaseB   = "33710000004" // …to another whatsmeow client, through the same server
)

// Receivers on the WhatsApp side.
const (
	sourceWAContact = "wa-contact" // the contact's phone (Matrix → WhatsApp, bridge path)
	sourceWAPeer    = "wa-peer"    // the baseline's receiving phone
)

// waSide is the WhatsApp test server with the phones the benchmark drives.
type waSide struct {
	srv     *watestserver.Server
	caFile  string
	contact *watestserver.Phone
	baseA   *watestserver.Phone
	baseB   *watestserver.Phone
}

// startWhatsApp starts the WhatsApp test server and the phones: the bridge's contact and the
// baseline pair, each receiver reporting the texts it gets to arr.
func (r *run) startWhatsApp(ctx context.Context) (*waSide, error) {
	log := zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)
	srv, err := watestserver.Start(watestserver.Options{Log: &log})
	if err != nil {
		return nil, fmt.Errorf("whatsapp test server: %w", err)
	}
	r.cleanup = append(r.cleanup, srv.Close)
	// The phones of this process trust the test server (the bridge gets the key by config).
	r.cleanup = append(r.cleanup, srv.TrustRoot())
	dir, err := os.MkdirTemp("", "passerelle-bench-wa-")
	if err != nil {
		return nil, err
	}
	r.cleanup = append(r.cleanup, func() { _ = os.RemoveAll(dir) })
	wa := &waSide{srv: srv, caFile: filepath.Join(dir, "ca.pem")}
	if err = srv.WriteCAFile(wa.caFile); err != nil {
		return nil, err
	}
	if _, err = srv.CreateAccount(waOwner, "Bench Owner"); err != nil {
		return nil, fmt.Errorf("whatsapp account %s: %w", waOwner, err)
	}
	for _, p := range []struct {
		phone, name, source string
		into                **watestserver.Phone
	}{
		{waContact, "Bench Contact", sourceWAContact, &wa.contact},
		{waBaseA, "Baseline A", "", &wa.baseA},
		{waBaseB, "Baseline B", sourceWAPeer, &wa.baseB},
	} {
		phone, err := srv.NewPhone(ctx, p.phone, watestserver.PhoneOptions{PushName: p.name})
		if err != nil {
			return nil, fmt.Errorf("whatsapp phone %s: %w", p.phone, err)
		}
		r.cleanup = append(r.cleanup, phone.Close)
		// The phone's own event log would keep every message of the run: the arrival board is
		// all the benchmark needs.
		phone.Events.Stop()
		if p.source != "" {
			reportTexts(phone, p.source, r.arr)
		}
		*p.into = phone
	}
	return wa, nil
}

// reportTexts tells arr about every text message phone receives, stamped when whatsmeow hands
// it to the client's handlers (decrypted), as an app would show it.
func reportTexts(phone *watestserver.Phone, source string, arr *arrivals) {
	phone.Client.AddEventHandler(func(evt any) {
		m, ok := evt.(*events.Message)
		if !ok || m.Info.IsFromMe {
			return
		}
		now := time.Now()
		text := m.Message.GetConversation()
		if text == "" {
			text = m.Message.GetExtendedTextMessage().GetText()
		}
		if text != "" {
			arr.seen(source, text, now)
		}
	})
}

// bridgeSettings are the network.whatsapp keys pointing the bridge at the test server, as an
// operator of a test deployment would set them.
func (wa *waSide) bridgeSettings() []setting {
	return []setting{
		{true, []string{"network", "whatsapp", "enabled"}},
		{wa.srv.ProxyURL(), []string{"network", "whatsapp", "proxy"}},
		{wa.srv.RootPublicKeyBase64(), []string{"network", "whatsapp", "server", "root_public_key"}},
		{wa.caFile, []string{"network", "whatsapp", "server", "ca_file"}},
	}
}

type setting struct {
	value any
	path  []string
}

// loginWhatsApp links the bridge to the owner's account for cli through the provisioning API:
// the bridge shows a QR code and the owner's phone (the test server) scans it.
func (r *run) loginWhatsApp(ctx context.Context, cli *mautrix.Client, wa *waSide) error {
	// The provisioning API's login step, as far as the benchmark reads it.
	var step struct {
		Type           string
		LoginID        string                 `json:"login_id"`
		StepID         string                 `json:"step_id"`
		DisplayAndWait *struct{ Data string } `json:"display_and_wait"`
	}
	if _, err := r.br.Provision(ctx, http.MethodPost, "/v3/login/start/whatsapp-qr", cli.UserID, struct{}{}, &step); err != nil {
		return fmt.Errorf("start the WhatsApp login: %w", err)
	}
	if step.Type != "display_and_wait" || step.DisplayAndWait == nil || step.DisplayAndWait.Data == "" {
		return fmt.Errorf("WhatsApp login start: want a QR code, got step %q", step.Type)
	}
	loginID, stepID, qr := step.LoginID, step.StepID, step.DisplayAndWait.Data
	scanned := make(chan error, 1)
	go func() {
		_, err := wa.srv.ScanQR(ctx, waOwner, qr)
		scanned <- err
	}()
	if _, err := r.br.Provision(ctx, http.MethodPost, "/v3/login/step/"+loginID+"/"+stepID+"/display_and_wait", cli.UserID, struct{}{}, &step); err != nil {
		return fmt.Errorf("WhatsApp login step: %w", err)
	}
	if err := <-scanned; err != nil {
		return fmt.Errorf("scan the bridge's QR code: %w", err)
	}
	if step.Type != "complete" {
		return errors.New("WhatsApp login did not complete: step " + step.Type)
	}
	return nil
}

// ownerJID is the bridge's WhatsApp account, as contacts write to it.
func ownerJID() types.JID { return types.NewJID(waOwner, types.DefaultUserServer) }
