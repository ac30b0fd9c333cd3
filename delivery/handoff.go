package delivery

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
)

// errRefused stands for a refusal bridgev2 gave no error for.
var errRefused = errors.New("bridgev2 refused the event")

// RetryHandOff offers a remote event to bridgev2 through hand until bridgev2 takes (or ignores)
// it, refuses it for a reason Transient does not recognise, ctx ends, or wait has passed since
// the first refusal, with the pauses of the other outage waits; it returns the last result.
// Connectors hand events over through it so that an event refused while the database or the
// homeserver restarts is offered again in place, instead of each network's own redelivery
// (a reconnect, a fetch of everything since the stored position) standing in for a wait.
func RetryHandOff(ctx context.Context, log zerolog.Logger, what string, wait time.Duration, hand func() bridgev2.EventHandlingResult) bridgev2.EventHandlingResult {
	var res bridgev2.EventHandlingResult
	_ = waitOutage(ctx, log, what, "the database or the homeserver is unreachable", outagePauses, wait, func() error {
		res = hand()
		switch {
		case res.Success || res.Ignored:
			return nil
		case res.Error != nil:
			return res.Error
		default:
			return errRefused
		}
	})
	return res
}

// RetryWrite runs a database write until it succeeds, fails for a reason Transient does not
// recognise, ctx ends, or wait has passed since the first failure, with the pauses and log
// lines of the other outage waits. It is for writes a connector must make before it may let an
// event go (a journal row before the acknowledgement).
func RetryWrite(ctx context.Context, log zerolog.Logger, what string, wait time.Duration, write func() error) error {
	return waitOutage(ctx, log, what, dbOutage, outagePauses, wait, write)
}
