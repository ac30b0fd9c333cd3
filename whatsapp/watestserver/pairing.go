package watestserver

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.mau.fi/libsignal/ecc"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/pbkdf2"
	"google.golang.org/protobuf/proto"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/hkdfutil"
	"go.mau.fi/whatsmeow/util/keys"
)

// pairing is a connection of a device that has no account yet, waiting to be linked by QR code or
// pairing code.
type pairing struct {
	conn *conn
	refs []string
	reg  *waWa6.ClientPayload_DevicePairingRegistrationData

	// Phone-number code pairing (Client.PairPhone).
	codePhone      string
	codeRef        string
	wrappedEphPub  []byte
	companionNoise []byte
	codeFinished   chan []byte // the companion's wrapped key bundle
	busy           bool
}

// Pairing errors callers can test for.
var (
	ErrNoPendingPairing = errors.New("no device is waiting to pair with this code")
	ErrWrongPairingCode = errors.New("pairing code does not match")
	ErrBadPairingInput  = errors.New("malformed pairing input")
)

// linkingAlphabet is the Crockford-like base32 alphabet of pairing codes (no 0, I, O, U).
const linkingAlphabet = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"

func (srv *Server) startPairing(c *conn) bool {
	reg := c.payload.GetDevicePairingData()
	if reg == nil || len(reg.GetEIdent()) != 32 || len(reg.GetESkeyVal()) != 32 || len(reg.GetESkeySig()) != 64 ||
		len(reg.GetERegid()) != 4 || len(reg.GetESkeyID()) != 3 {
		c.log.Warn().Msg("Registration payload lacks device keys")
		c.close(&waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{"reason": 400}})
		return false
	}
	p := &pairing{conn: c, reg: reg}
	for i := 0; i < srv.opts.QRRefs; i++ {
		p.refs = append(p.refs, "2@"+randomString(32))
	}
	srv.mu.Lock()
	c.pairing = p
	for _, ref := range p.refs {
		srv.pairings[ref] = p
	}
	srv.mu.Unlock()
	refNodes := make([]waBinary.Node, len(p.refs))
	for i, ref := range p.refs {
		refNodes[i] = waBinary.Node{Tag: "ref", Content: []byte(ref)}
	}
	c.log.Debug().Msg("New device connected: sending pairing refs")
	err := c.send(waBinary.Node{
		Tag:     "iq",
		Attrs:   waBinary.Attrs{"from": types.ServerJID, "type": "set", "id": srv.nextID(), "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-device", Content: refNodes}},
	})
	return err == nil
}

func (srv *Server) dropPairingLocked(p *pairing) {
	for _, ref := range p.refs {
		if srv.pairings[ref] == p {
			delete(srv.pairings, ref)
		}
	}
	if p.codePhone != "" && srv.codePairings[p.codePhone] == p {
		delete(srv.codePairings, p.codePhone)
	}
}

// handlePairingNode serves a connection that is not logged in: pings and the pairing-code iqs.
func (srv *Server) handlePairingNode(c *conn, node *waBinary.Node) {
	if node.Tag != "iq" {
		return
	}
	switch node.Attrs["xmlns"] {
	case "w:p":
		srv.replyIQ(c, node, nil)
	case "md":
		reg, ok := node.GetOptionalChildByTag("link_code_companion_reg")
		if !ok {
			srv.replyIQError(c, node, 400, "bad-request")
			return
		}
		switch reg.AttrGetter().OptionalString("stage") {
		case "companion_hello":
			srv.handleCompanionHello(c, node, &reg)
		case "companion_finish":
			srv.handleCompanionFinish(c, node, &reg)
		default:
			srv.replyIQError(c, node, 400, "bad-request")
		}
	default:
		srv.replyIQError(c, node, 401, "not-authorized")
	}
}

// ScanQR does what the phone of account phone does when it scans a QR code shown by a device:
// it links the device to the account (created if missing) and returns the new device's JID once
// the device has confirmed the pairing. qr is the string from whatsmeow's QR event or channel.
func (srv *Server) ScanQR(ctx context.Context, phone, qr string) (types.JID, error) {
	if err := validPhone(phone); err != nil {
		return types.EmptyJID, fmt.Errorf("%w: %w", ErrBadPairingInput, err)
	}
	parts := strings.Split(qr, ",")
	if len(parts) != 4 {
		return types.EmptyJID, fmt.Errorf("%w: QR code %q: want 4 comma-separated parts (ref,noise,identity,adv), got %d", ErrBadPairingInput, qr, len(parts))
	}
	noise, err1 := base64.StdEncoding.DecodeString(parts[1])
	identity, err2 := base64.StdEncoding.DecodeString(parts[2])
	adv, err3 := base64.StdEncoding.DecodeString(parts[3])
	if err := errors.Join(err1, err2, err3); err != nil || len(noise) != 32 || len(identity) != 32 || len(adv) != 32 {
		return types.EmptyJID, fmt.Errorf("%w: QR code keys must be base64 of 32 bytes (%v)", ErrBadPairingInput, err)
	}
	srv.mu.Lock()
	p := srv.pairings[parts[0]]
	if p == nil || p.busy {
		srv.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("QR code ref %s: %w", parts[0], ErrNoPendingPairing)
	}
	if !bytes.Equal(noise, p.conn.clientStatic[:]) || !bytes.Equal(identity, p.reg.GetEIdent()) {
		srv.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("QR code keys do not match the connection that showed ref %s", parts[0])
	}
	p.busy = true
	srv.mu.Unlock()
	return srv.completePairing(ctx, p, phone, adv)
}

// completePairing sends pair-success with a device identity signed by the account, waits for the
// device's signature and records the device.
func (srv *Server) completePairing(ctx context.Context, p *pairing, phone string, advSecret []byte) (types.JID, error) {
	srv.mu.Lock()
	acct := srv.accountLocked(phone, true)
	devID := acct.nextDevice
	if acct.primaryNext && acct.devices[0] == nil {
		devID = 0
	} else {
		acct.nextDevice++
	}
	acct.primaryNext = false
	srv.mu.Unlock()

	details, err := proto.Marshal(&waAdv.ADVDeviceIdentity{
		RawID:     proto.Uint32(uint32(time.Now().UnixNano())),
		Timestamp: proto.Uint64(uint64(time.Now().Unix())),
		KeyIndex:  proto.Uint32(uint32(devID)),
	})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("marshal device identity: %w", err)
	}
	msg := append(append([]byte{6, 0}, details...), p.reg.GetEIdent()...)
	sig := ecc.CalculateSignature(ecc.NewDjbECPrivateKey(*acct.key.Priv), msg)
	signed, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentity{
		Details:             details,
		AccountSignatureKey: acct.key.Pub[:],
		AccountSignature:    sig[:],
	})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("marshal signed device identity: %w", err)
	}
	mac := hmac.New(sha256.New, advSecret)
	mac.Write(signed)
	container, err := proto.Marshal(&waAdv.ADVSignedDeviceIdentityHMAC{Details: signed, HMAC: mac.Sum(nil)})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("marshal device identity container: %w", err)
	}
	jid := types.JID{User: phone, Device: devID, Server: types.DefaultUserServer}
	srv.mu.Lock()
	lid := types.JID{User: acct.lid, Device: devID, Server: types.HiddenUserServer}
	srv.mu.Unlock()
	resp, err := p.conn.sendIQ(ctx, waBinary.Node{
		Tag:   "iq",
		Attrs: waBinary.Attrs{"from": types.ServerJID, "type": "set", "id": srv.nextID(), "xmlns": "md"},
		Content: []waBinary.Node{{Tag: "pair-success", Content: []waBinary.Node{
			{Tag: "device-identity", Content: container},
			{Tag: "platform", Attrs: waBinary.Attrs{"name": "android"}},
			{Tag: "device", Attrs: waBinary.Attrs{"jid": jid, "lid": lid}},
		}}},
	})
	if err != nil {
		return types.EmptyJID, fmt.Errorf("pair %s: waiting for the device to confirm: %w", jid, err)
	}
	if resp.Attrs["type"] != "result" {
		return types.EmptyJID, fmt.Errorf("pair %s: device refused: %s", jid, resp.XMLString())
	}
	signNode, ok := resp.GetOptionalChildByTag("pair-device-sign", "device-identity")
	if !ok {
		return types.EmptyJID, fmt.Errorf("pair %s: confirmation lacks pair-device-sign", jid)
	}
	var confirmed waAdv.ADVSignedDeviceIdentity
	if raw, _ := signNode.Content.([]byte); proto.Unmarshal(raw, &confirmed) != nil {
		return types.EmptyJID, fmt.Errorf("pair %s: confirmation has an unreadable device identity", jid)
	}
	devMsg := append(append(append([]byte{6, 1}, confirmed.GetDetails()...), p.reg.GetEIdent()...), acct.key.Pub[:]...)
	if len(confirmed.GetDeviceSignature()) != 64 ||
		!ecc.VerifySignature(ecc.NewDjbECPublicKey([32]byte(p.reg.GetEIdent())), devMsg, [64]byte(confirmed.GetDeviceSignature())) {
		return types.EmptyJID, fmt.Errorf("pair %s: device signature does not verify", jid)
	}

	dev := &device{
		id:       devID,
		noise:    p.conn.clientStatic,
		identity: [32]byte(p.reg.GetEIdent()),
		regID:    binary.BigEndian.Uint32(p.reg.GetERegid()),
		signedPreKey: preKey{
			id:  binary.BigEndian.Uint32(append([]byte{0}, p.reg.GetESkeyID()...)),
			pub: p.reg.GetESkeyVal(),
			sig: p.reg.GetESkeySig(),
		},
		platform: "android",
	}
	srv.mu.Lock()
	dev.acct = acct
	acct.devices[devID] = dev
	srv.dropPairingLocked(p)
	srv.mu.Unlock()
	// As WhatsApp does, make the device reconnect and log in with its new identity.
	p.conn.close(&waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{"code": "515"}})
	srv.notifyDevicesChanged(acct)
	return jid, nil
}

// handleCompanionHello starts phone-number pairing: the device sent its ephemeral key wrapped with
// the 8-character code it shows to the user.
func (srv *Server) handleCompanionHello(c *conn, node *waBinary.Node, reg *waBinary.Node) {
	jid, ok := reg.Attrs["jid"].(types.JID)
	wrapped, _ := reg.GetChildByTag("link_code_pairing_wrapped_companion_ephemeral_pub").Content.([]byte)
	noise, _ := reg.GetChildByTag("companion_server_auth_key_pub").Content.([]byte)
	if !ok || len(wrapped) != 80 || !bytes.Equal(noise, c.clientStatic[:]) || validPhone(jid.User) != nil {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	srv.mu.Lock()
	p := c.pairing
	if p == nil {
		srv.mu.Unlock()
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	if old := srv.codePairings[jid.User]; old != nil && old != p {
		old.codePhone = ""
	}
	p.codePhone = jid.User
	p.codeRef = randomString(20)
	p.wrappedEphPub = wrapped
	p.companionNoise = noise
	p.codeFinished = make(chan []byte, 1)
	srv.codePairings[jid.User] = p
	ref := p.codeRef
	srv.mu.Unlock()
	srv.replyIQ(c, node, []waBinary.Node{{Tag: "link_code_companion_reg", Content: []waBinary.Node{
		{Tag: "link_code_pairing_ref", Content: []byte(ref)},
	}}})
}

func (srv *Server) handleCompanionFinish(c *conn, node *waBinary.Node, reg *waBinary.Node) {
	bundle, _ := reg.GetChildByTag("link_code_pairing_wrapped_key_bundle").Content.([]byte)
	ref, _ := reg.GetChildByTag("link_code_pairing_ref").Content.([]byte)
	srv.mu.Lock()
	p := c.pairing
	ok := p != nil && p.codeFinished != nil && string(ref) == p.codeRef
	srv.mu.Unlock()
	if !ok {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	srv.replyIQ(c, node, nil)
	select {
	case p.codeFinished <- bundle:
	default:
	}
}

// EnterPairingCode does what the phone of account phone does when its user types the code a
// device showed after Client.PairPhone(phone): it completes the link and returns the new device's
// JID once the device confirmed. A wrong code gives ErrWrongPairingCode.
func (srv *Server) EnterPairingCode(ctx context.Context, phone, code string) (types.JID, error) {
	code = strings.ReplaceAll(strings.ToUpper(strings.TrimSpace(code)), "-", "")
	if len(code) != 8 || strings.Trim(code, linkingAlphabet) != "" {
		return types.EmptyJID, fmt.Errorf("%w: pairing code %q: want 8 characters of %s (e.g. ABCD-EFGH)", ErrBadPairingInput, code, linkingAlphabet)
	}
	srv.mu.Lock()
	p := srv.codePairings[phone]
	if p == nil || p.busy {
		srv.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("pairing code for %s: %w", phone, ErrNoPendingPairing)
	}
	p.busy = true
	wrapped := p.wrappedEphPub
	ref := p.codeRef
	finished := p.codeFinished
	c := p.conn
	srv.mu.Unlock()
	release := func() {
		srv.mu.Lock()
		p.busy = false
		srv.mu.Unlock()
	}

	codeKey := func(salt []byte) []byte { return pbkdf2.Key([]byte(code), salt, 2<<16, 32, sha256.New) }
	block, err := aes.NewCipher(codeKey(wrapped[:32]))
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code cipher: %w", err)
	}
	companionEph := make([]byte, 32)
	cipher.NewCTR(block, wrapped[32:48]).XORKeyStream(companionEph, wrapped[48:80])

	primaryEph := keys.NewKeyPair()
	salt, iv := randomBytes(32), randomBytes(16)
	block, err = aes.NewCipher(codeKey(salt))
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code cipher: %w", err)
	}
	wrappedPrimary := make([]byte, 80)
	copy(wrappedPrimary, salt)
	copy(wrappedPrimary[32:], iv)
	cipher.NewCTR(block, iv).XORKeyStream(wrappedPrimary[48:], primaryEph.Pub[:])

	srv.mu.Lock()
	acct := srv.accountLocked(phone, true)
	acctKey := acct.key
	srv.mu.Unlock()
	err = c.send(waBinary.Node{
		Tag:   "notification",
		Attrs: waBinary.Attrs{"from": types.ServerJID, "type": "link_code_companion_reg", "id": srv.nextID(), "t": time.Now().Unix()},
		Content: []waBinary.Node{{Tag: "link_code_companion_reg", Content: []waBinary.Node{
			{Tag: "link_code_pairing_ref", Content: []byte(ref)},
			{Tag: "link_code_pairing_wrapped_primary_ephemeral_pub", Content: wrappedPrimary},
			{Tag: "primary_identity_pub", Content: acctKey.Pub[:]},
		}}},
	})
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("send pairing code notification: %w", err)
	}
	var bundle []byte
	select {
	case bundle = <-finished:
	case <-ctx.Done():
		release()
		return types.EmptyJID, fmt.Errorf("pairing code for %s: waiting for the device: %w", phone, ctx.Err())
	case <-c.ctx.Done():
		return types.EmptyJID, fmt.Errorf("pairing code for %s: device disconnected", phone)
	}
	if len(bundle) < 32+12+16 {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code for %s: key bundle is too short", phone)
	}
	ephShared, err := curve25519.X25519(primaryEph.Priv[:], companionEph)
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code for %s: %w", phone, ErrWrongPairingCode)
	}
	bundleKey := hkdfutil.SHA256(ephShared, bundle[:32], []byte("link_code_pairing_key_bundle_encryption_key"), 32)
	block, err = aes.NewCipher(bundleKey)
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("key bundle cipher: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("key bundle cipher: %w", err)
	}
	plain, err := gcm.Open(nil, bundle[32:44], bundle[44:], nil)
	if err != nil || len(plain) != 96 {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code for %s: %w", phone, ErrWrongPairingCode)
	}
	companionIdentity, primaryIdentity, advRandom := plain[:32], plain[32:64], plain[64:96]
	if !bytes.Equal(primaryIdentity, acctKey.Pub[:]) || !bytes.Equal(companionIdentity, p.reg.GetEIdent()) {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code for %s: key bundle names other keys", phone)
	}
	identityShared, err := curve25519.X25519(acctKey.Priv[:], companionIdentity)
	if err != nil {
		release()
		return types.EmptyJID, fmt.Errorf("pairing code identity agreement: %w", err)
	}
	advSecret := hkdfutil.SHA256(append(append(ephShared, identityShared...), advRandom...), nil, []byte("adv_secret"), 32)
	return srv.completePairing(ctx, p, phone, advSecret)
}
