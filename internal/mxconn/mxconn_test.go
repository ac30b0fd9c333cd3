package mxconn

import (
	"testing"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/matrix"
)

type wrapped struct {
	*matrix.Connector
}

func (w wrapped) Unwrap() bridgev2.MatrixConnector { return w.Connector }

func TestOf(t *testing.T) {
	mc := &matrix.Connector{}
	for name, m := range map[string]bridgev2.MatrixConnector{
		"bare":    mc,
		"wrapped": wrapped{mc},
		"twice":   wrapped{Connector: mc},
	} {
		if got, ok := Of(m); !ok || got != mc {
			t.Errorf("%s: got %p, %v; want the connector", name, got, ok)
		}
	}
	if _, ok := Of(nil); ok {
		t.Error("nil connector reported as found")
	}
}
