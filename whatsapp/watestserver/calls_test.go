package watestserver

import (
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

func TestCalls(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	if _, err := srv.CreateAccount("33622222222", "Bob"); err != nil {
		t.Fatal(err)
	}
	callID, err := srv.OfferCall("33622222222", "33611111111", false)
	if err != nil {
		t.Fatal(err)
	}
	offer, _, err := WaitFor(ctx, alice.log, 0, func(o *events.CallOffer) bool { return o.CallID == callID })
	if err != nil {
		t.Fatal(err)
	}
	if offer.CallCreator.User != "33622222222" || offer.From.User != "33622222222" {
		t.Fatalf("offer = %+v", offer.BasicCallMeta)
	}
	if err = alice.cli.RejectCall(ctx, offer.From, callID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the rejection", func() bool {
		calls := srv.Calls()
		return len(calls) == 2 && calls[1].Event == "reject" && calls[1].ID == callID && calls[1].From == "33611111111"
	})

	missed, _ := srv.OfferCall("33622222222", "33611111111", true)
	if err = srv.EndCall("33622222222", "33611111111", missed, ""); err != nil {
		t.Fatal(err)
	}
	end, _, err := WaitFor(ctx, alice.log, 0, func(e *events.CallTerminate) bool { return e.CallID == missed })
	if err != nil {
		t.Fatal(err)
	}
	if end.Reason != "timeout" {
		t.Fatalf("terminate reason = %q", end.Reason)
	}
	if _, err = srv.OfferCall("33600000000", "33611111111", false); err == nil {
		t.Fatal("a call from an unknown account was offered")
	}
	waitQueuesDrain(t, srv)
}
