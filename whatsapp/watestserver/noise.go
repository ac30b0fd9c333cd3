package watestserver

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"

	"go.mau.fi/libsignal/ecc"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/hkdf"
	"google.golang.org/protobuf/proto"

	"go.mau.fi/whatsmeow/proto/waCert"
	"go.mau.fi/whatsmeow/util/keys"
)

// noisePattern is the protocol name WhatsApp mixes in first; it is exactly 32 bytes long, so it is
// used as the initial hash as is.
const noisePattern = "Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"

// noiseState is the responder's side of WhatsApp's Noise_XX_25519_AESGCM_SHA256 handshake.
type noiseState struct {
	hash    []byte
	salt    []byte
	aead    cipher.AEAD
	counter uint32
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create AES cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

func nonce(counter uint32) []byte {
	iv := make([]byte, 12)
	binary.BigEndian.PutUint32(iv[8:], counter)
	return iv
}

func newNoiseState(prologue []byte) (*noiseState, error) {
	ns := &noiseState{hash: []byte(noisePattern), salt: []byte(noisePattern)}
	var err error
	if ns.aead, err = newAEAD(ns.hash); err != nil {
		return nil, err
	}
	ns.authenticate(prologue)
	return ns, nil
}

func (ns *noiseState) authenticate(data []byte) {
	sum := sha256.Sum256(append(append([]byte{}, ns.hash...), data...))
	ns.hash = sum[:]
}

func expand(salt, secret []byte) (first, second []byte, err error) {
	r := hkdf.New(sha256.New, secret, salt, nil)
	first, second = make([]byte, 32), make([]byte, 32)
	if _, err = io.ReadFull(r, first); err == nil {
		_, err = io.ReadFull(r, second)
	}
	return
}

func (ns *noiseState) mixDH(priv, pub []byte) error {
	secret, err := curve25519.X25519(priv, pub)
	if err != nil {
		return fmt.Errorf("x25519: %w", err)
	}
	salt, key, err := expand(ns.salt, secret)
	if err != nil {
		return fmt.Errorf("expand handshake key: %w", err)
	}
	ns.salt = salt
	ns.counter = 0
	ns.aead, err = newAEAD(key)
	return err
}

func (ns *noiseState) encrypt(plaintext []byte) []byte {
	ct := ns.aead.Seal(nil, nonce(ns.counter), plaintext, ns.hash)
	ns.counter++
	ns.authenticate(ct)
	return ct
}

func (ns *noiseState) decrypt(ciphertext []byte) ([]byte, error) {
	pt, err := ns.aead.Open(nil, nonce(ns.counter), ciphertext, ns.hash)
	ns.counter++
	if err != nil {
		return nil, err
	}
	ns.authenticate(ciphertext)
	return pt, nil
}

// split derives the transport ciphers: the client writes with the first key, the server with the
// second.
func (ns *noiseState) split() (fromClient, toClient cipher.AEAD, err error) {
	first, second, err := expand(ns.salt, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("expand transport keys: %w", err)
	}
	if fromClient, err = newAEAD(first); err != nil {
		return nil, nil, err
	}
	if toClient, err = newAEAD(second); err != nil {
		return nil, nil, err
	}
	return fromClient, toClient, nil
}

// makeCertChain builds the intermediate + leaf noise certificates that whatsmeow checks against
// WACertPubKey: root signs the intermediate, the intermediate signs the server's static key.
func makeCertChain(root *keys.KeyPair, static *keys.KeyPair) ([]byte, error) {
	intermediate := keys.NewKeyPair()
	sign := func(signer *keys.KeyPair, details *waCert.CertChain_NoiseCertificate_Details) (*waCert.CertChain_NoiseCertificate, error) {
		raw, err := proto.Marshal(details)
		if err != nil {
			return nil, fmt.Errorf("marshal certificate details: %w", err)
		}
		sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*signer.Priv), raw)
		return &waCert.CertChain_NoiseCertificate{Details: raw, Signature: sig[:]}, nil
	}
	inter, err := sign(root, &waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(1),
		IssuerSerial: proto.Uint32(0),
		Key:          intermediate.Pub[:],
	})
	if err != nil {
		return nil, err
	}
	leaf, err := sign(intermediate, &waCert.CertChain_NoiseCertificate_Details{
		Serial:       proto.Uint32(2),
		IssuerSerial: proto.Uint32(1),
		Key:          static.Pub[:],
	})
	if err != nil {
		return nil, err
	}
	return proto.Marshal(&waCert.CertChain{Leaf: leaf, Intermediate: inter})
}
