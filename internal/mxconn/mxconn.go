// Package mxconn finds mautrix's Matrix connector behind bridgev2's Bridge.Matrix, which
// Passerelle wraps (package delivery observes message statuses there): code that needs the
// appservice router, media limits or crypto asks here instead of asserting the concrete type.
package mxconn

import (
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/matrix"
)

// Wrapper is a Matrix connector that wraps another one.
type Wrapper interface {
	Unwrap() bridgev2.MatrixConnector
}

// Of returns the *matrix.Connector behind m, looking through wrappers.
func Of(m bridgev2.MatrixConnector) (*matrix.Connector, bool) {
	for i := 0; i < 8 && m != nil; i++ {
		switch v := m.(type) {
		case *matrix.Connector:
			return v, true
		case Wrapper:
			m = v.Unwrap()
		default:
			return nil, false
		}
	}
	return nil, false
}
