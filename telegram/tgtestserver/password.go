package tgtestserver

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/gotd/td/crypto/srp"
	"github.com/gotd/td/tg"
)

// srpPrime is Telegram's 2048-bit SRP group prime; the generator is 3.
var srpPrime = func() *big.Int {
	p, ok := new(big.Int).SetString(""+
		"C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"+
		"48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"+
		"20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"+
		"2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"+
		"A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"+
		"FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"+
		"E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"+
		"0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B", 16)
	if !ok {
		panic("bad SRP prime")
	}
	return p
}()

const srpG = 3

// passwordState is an account's 2FA password: the SRP verifier and the
// in-flight SRP exchanges (srp_id → server secret b).
type passwordState struct {
	hint     string
	salt1    []byte
	salt2    []byte
	verifier *big.Int
	pending  map[int64]*srpExchange
}

type srpExchange struct {
	b  *big.Int
	gb []byte
}

func pad256(b []byte) []byte {
	if len(b) >= 256 {
		return b[len(b)-256:]
	}
	out := make([]byte, 256)
	copy(out[256-len(b):], b)
	return out
}

func sha(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// newPasswordState derives the SRP verifier v = g^x mod p for password, the
// value Telegram keeps instead of the password.
func newPasswordState(password, hint string) (*passwordState, error) {
	salt1 := make([]byte, 8)
	suffix := make([]byte, 32)
	salt2 := make([]byte, 16)
	for _, b := range [][]byte{salt1, suffix, salt2} {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("password salt: %w", err)
		}
	}
	// srp.NewHash appends 32 bytes from its random source to salt1 and
	// returns the verifier for the extended salt: feed it our own suffix.
	v, fullSalt1, err := srp.NewSRP(bytes.NewReader(suffix)).NewHash([]byte(password), srp.Input{
		Salt1: salt1,
		Salt2: salt2,
		G:     srpG,
		P:     srpPrime.Bytes(),
	})
	if err != nil {
		return nil, fmt.Errorf("password verifier: %w", err)
	}
	return &passwordState{
		hint:     hint,
		salt1:    fullSalt1,
		salt2:    salt2,
		verifier: new(big.Int).SetBytes(v),
		pending:  map[int64]*srpExchange{},
	}, nil
}

func (p *passwordState) algo() *tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow {
	return &tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{
		Salt1: p.salt1,
		Salt2: p.salt2,
		G:     srpG,
		P:     srpPrime.Bytes(),
	}
}

// begin starts an SRP exchange: B = k·v + g^b mod p.
func (p *passwordState) begin() (srpID int64, gb []byte, err error) {
	bb := make([]byte, 256)
	if _, err := rand.Read(bb); err != nil {
		return 0, nil, fmt.Errorf("srp secret: %w", err)
	}
	b := new(big.Int).SetBytes(bb)
	g := big.NewInt(srpG)
	k := new(big.Int).SetBytes(sha(srpPrime.Bytes(), pad256(g.Bytes())))
	kv := new(big.Int).Mul(k, p.verifier)
	kv.Mod(kv, srpPrime)
	B := new(big.Int).Exp(g, b, srpPrime)
	B.Add(B, kv)
	B.Mod(B, srpPrime)
	srpID = randomInt64()
	gb = pad256(B.Bytes())
	p.pending[srpID] = &srpExchange{b: b, gb: gb}
	return srpID, gb, nil
}

// check verifies the client's proof M1 for the exchange srpID.
func (p *passwordState) check(srpID int64, A, M1 []byte) bool {
	ex := p.pending[srpID]
	if ex == nil {
		return false
	}
	delete(p.pending, srpID)
	a := new(big.Int).SetBytes(A)
	if a.Sign() <= 0 || a.Cmp(srpPrime) >= 0 {
		return false
	}
	ga := pad256(A)
	u := new(big.Int).SetBytes(sha(ga, ex.gb))
	// S = (A · v^u)^b mod p
	vu := new(big.Int).Exp(p.verifier, u, srpPrime)
	base := new(big.Int).Mul(a, vu)
	base.Mod(base, srpPrime)
	S := new(big.Int).Exp(base, ex.b, srpPrime)
	K := sha(pad256(S.Bytes()))
	g := big.NewInt(srpG)
	hp := sha256.Sum256(srpPrime.Bytes())
	hg := sha256.Sum256(pad256(g.Bytes()))
	var x [32]byte
	for i := range x {
		x[i] = hp[i] ^ hg[i]
	}
	want := sha(x[:], sha(p.salt1), sha(p.salt2), ga, ex.gb, K)
	return subtle.ConstantTimeCompare(want, M1) == 1
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func hexID(b []byte) string { return hex.EncodeToString(b) }
