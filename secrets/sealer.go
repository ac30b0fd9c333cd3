package secrets

// Sealer is what a store uses to write and read its secret columns. Activate hands it out
// after checking the database's encryption state, so a store never writes plaintext into an
// encrypted database nor misreads plaintext as sealed:
//
//   - encrypted: Seal encrypts with the current key, Open decrypts with any key of the ring and
//     refuses unsealed, tampered or moved values;
//   - unencrypted (no key configured, and the store never was encrypted): both return the
//     value unchanged.
//
// A nil *Sealer refuses every call with ErrNotActivated. It is safe for concurrent use.
type Sealer struct {
	scope string
	ring  *Keyring
}

// Encrypted tells whether values are sealed.
func (s *Sealer) Encrypted() bool { return s != nil && s.ring != nil }

// Scope is the store name given to Activate.
func (s *Sealer) Scope() string {
	if s == nil {
		return ""
	}
	return s.scope
}

// KeyID is the ID of the key new values are sealed with, or "" when unencrypted.
func (s *Sealer) KeyID() string {
	if !s.Encrypted() {
		return ""
	}
	return s.ring.CurrentID()
}

// Seal prepares a secret for storing in the cell ref.
func (s *Sealer) Seal(ref Ref, plaintext []byte) ([]byte, error) {
	if s == nil {
		return nil, &Error{Ref: ref, Err: ErrNotActivated}
	}
	if s.ring == nil {
		return plaintext, nil
	}
	return s.ring.Seal(ref, plaintext)
}

// Open turns a stored value of the cell ref back into the secret. Errors are *Error values
// naming the cell and what to do.
func (s *Sealer) Open(ref Ref, stored []byte) ([]byte, error) {
	if s == nil {
		return nil, &Error{Ref: ref, Err: ErrNotActivated}
	}
	if s.ring == nil {
		return stored, nil
	}
	return s.ring.Open(ref, stored)
}
