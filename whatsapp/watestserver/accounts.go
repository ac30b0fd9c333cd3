package watestserver

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// account is one phone number with its devices. Its "phone" (the primary device that approves
// pairings) lives in the server: key signs the companion devices' identities.
type account struct {
	phone      string
	lid        string
	pushName   string
	status     string
	key        *keys.KeyPair
	devices    map[uint16]*device
	nextDevice uint16
	// primaryNext makes the next pairing device 0, the account's primary phone (PhoneOptions.Primary).
	primaryNext bool

	appState map[string][][]byte // collection → patches, version = index + 1

	available   bool
	lastSeen    time.Time
	subscribers map[string]struct{} // phone numbers that asked for this account's presence
}

// device is one companion device of an account: its keys as uploaded, its connection and the
// stanzas waiting for it.
type device struct {
	acct         *account
	id           uint16
	noise        [32]byte
	identity     [32]byte
	regID        uint32
	signedPreKey preKey
	preKeys      []preKey
	platform     string

	conn   *conn
	active bool
	queue  []*queued
}

type preKey struct {
	id  uint32
	pub []byte
	sig []byte
}

// queued is a stanza kept for a device until the device acknowledges it.
type queued struct {
	node  waBinary.Node
	class string
	id    string
	typ   string
	from  types.JID
}

func (d *device) jid() types.JID {
	return types.JID{User: d.acct.phone, Device: d.id, Server: types.DefaultUserServer}
}

func (d *device) lidJID() types.JID {
	return types.JID{User: d.acct.lid, Device: d.id, Server: types.HiddenUserServer}
}

func (a *account) jid() types.JID    { return types.NewJID(a.phone, types.DefaultUserServer) }
func (a *account) lidJID() types.JID { return types.NewJID(a.lid, types.HiddenUserServer) }

func (a *account) sortedDevices() []*device {
	out := make([]*device, 0, len(a.devices))
	for _, d := range a.devices {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)[:n]
}

// validPhone checks that a phone number is digits only, as WhatsApp JIDs are.
func validPhone(phone string) error {
	if len(phone) < 7 || len(phone) > 15 {
		return fmt.Errorf("phone number %q must have 7 to 15 digits (international format without +)", phone)
	}
	if _, err := strconv.ParseUint(phone, 10, 64); err != nil || phone[0] == '0' {
		return fmt.Errorf("phone number %q must be digits only, in international format without + or leading 0", phone)
	}
	return nil
}

// accountLocked returns the account of a phone number, creating it when create is set.
func (srv *Server) accountLocked(phone string, create bool) *account {
	acct := srv.accounts[phone]
	if acct == nil && create {
		acct = &account{
			phone:       phone,
			lid:         strconv.FormatUint(srv.nextLID, 10),
			key:         keys.NewKeyPair(),
			devices:     map[uint16]*device{},
			nextDevice:  1,
			subscribers: map[string]struct{}{},
		}
		srv.nextLID++
		srv.accounts[phone] = acct
		srv.accountsLID[acct.lid] = acct
	}
	return acct
}

// accountOfLocked finds the account of a user JID, phone-number or LID form.
func (srv *Server) accountOfLocked(jid types.JID) *account {
	switch jid.Server {
	case types.DefaultUserServer:
		return srv.accounts[jid.User]
	case types.HiddenUserServer:
		return srv.accountsLID[jid.User]
	}
	return nil
}

// deviceLocked finds a device by its JID, phone-number or LID form.
func (srv *Server) deviceLocked(jid types.JID) *device {
	acct := srv.accountOfLocked(jid)
	if acct == nil {
		return nil
	}
	return acct.devices[jid.Device]
}

// CreateAccount registers a phone number (digits, international format) with a push name, before
// any device pairs with it. Pairing creates missing accounts too; this also sets the name.
func (srv *Server) CreateAccount(phone, pushName string) (types.JID, error) {
	if err := validPhone(phone); err != nil {
		return types.EmptyJID, err
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	acct := srv.accountLocked(phone, true)
	if pushName != "" {
		acct.pushName = pushName
	}
	return acct.jid(), nil
}

// AccountLID returns the LID JID the server gave an account.
func (srv *Server) AccountLID(phone string) (types.JID, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	acct := srv.accounts[phone]
	if acct == nil {
		return types.EmptyJID, fmt.Errorf("account %s: not registered", phone)
	}
	return acct.lidJID(), nil
}

// Devices lists the devices of an account.
func (srv *Server) Devices(phone string) []types.JID {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	acct := srv.accounts[phone]
	if acct == nil {
		return nil
	}
	var out []types.JID
	for _, d := range acct.sortedDevices() {
		out = append(out, d.jid())
	}
	return out
}

// IsConnected reports whether a device has a logged-in connection.
func (srv *Server) IsConnected(jid types.JID) bool {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	dev := srv.deviceLocked(jid)
	return dev != nil && dev.conn != nil
}

// QueuedCount is how many stanzas wait for a device's acknowledgement.
func (srv *Server) QueuedCount(jid types.JID) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	dev := srv.deviceLocked(jid)
	if dev == nil {
		return 0
	}
	return len(dev.queue)
}

// PreKeyCount is how many one-time prekeys of a device the server holds.
func (srv *Server) PreKeyCount(jid types.JID) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	dev := srv.deviceLocked(jid)
	if dev == nil {
		return 0
	}
	return len(dev.preKeys)
}

// Disconnect drops a device's connection without a stream error, as a network failure would;
// whatsmeow reconnects by itself.
func (srv *Server) Disconnect(jid types.JID) error {
	srv.mu.Lock()
	dev := srv.deviceLocked(jid)
	var c *conn
	if dev != nil {
		c = dev.conn
	}
	srv.mu.Unlock()
	if c == nil {
		return fmt.Errorf("disconnect %s: device is not connected", jid)
	}
	c.close(nil)
	return nil
}

// LogoutDevice removes a device, as "unlink device" on the phone does: a connected client gets
// stream:error 401 device_removed (whatsmeow emits events.LoggedOut{OnConnect: false}); a client
// connecting later gets failure 401 (events.LoggedOut{OnConnect: true}). Contacts are told the
// device list changed.
func (srv *Server) LogoutDevice(jid types.JID) error {
	srv.mu.Lock()
	dev := srv.deviceLocked(jid)
	if dev == nil {
		srv.mu.Unlock()
		return fmt.Errorf("log out %s: no such device", jid)
	}
	delete(dev.acct.devices, dev.id)
	c := dev.conn
	dev.conn = nil
	acct := dev.acct
	srv.mu.Unlock()
	if c != nil {
		c.close(&waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{"code": "401"}, Content: []waBinary.Node{{
			Tag: "conflict", Attrs: waBinary.Attrs{"type": "device_removed"},
		}}})
	}
	srv.notifyDevicesChanged(acct)
	return nil
}

// SendStreamError sends a stream:error with the given code (and conflict type, if any) to a
// connected device and closes its connection. "515" makes whatsmeow reconnect at once; "503" lets
// its auto-reconnect run.
func (srv *Server) SendStreamError(jid types.JID, code, conflictType string) error {
	srv.mu.Lock()
	dev := srv.deviceLocked(jid)
	var c *conn
	if dev != nil {
		c = dev.conn
	}
	srv.mu.Unlock()
	if c == nil {
		return fmt.Errorf("stream error to %s: device is not connected", jid)
	}
	node := waBinary.Node{Tag: "stream:error", Attrs: waBinary.Attrs{}}
	if code != "" {
		node.Attrs["code"] = code
	}
	if conflictType != "" {
		node.Content = []waBinary.Node{{Tag: "conflict", Attrs: waBinary.Attrs{"type": conflictType}}}
	}
	c.close(&node)
	return nil
}

// SetPushName changes an account's push name, as set on the phone.
func (srv *Server) SetPushName(phone, name string) error {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	acct := srv.accounts[phone]
	if acct == nil {
		return fmt.Errorf("set push name of %s: account not registered", phone)
	}
	acct.pushName = name
	return nil
}

// PushName returns an account's push name.
func (srv *Server) PushName(phone string) string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if acct := srv.accounts[phone]; acct != nil {
		return acct.pushName
	}
	return ""
}

// notifyDevicesChanged tells every other connected device that an account's device list changed,
// so whatsmeow drops its cached list and fetches the new one before it next encrypts.
func (srv *Server) notifyDevicesChanged(acct *account) {
	srv.mu.Lock()
	var targets []*conn
	for _, other := range srv.accounts {
		for _, d := range other.devices {
			if d.conn != nil && d.active {
				targets = append(targets, d.conn)
			}
		}
	}
	from := acct.jid()
	lid := acct.lidJID()
	srv.mu.Unlock()
	for _, c := range targets {
		_ = c.send(waBinary.Node{
			Tag:   "notification",
			Attrs: waBinary.Attrs{"type": "devices", "from": from, "lid": lid, "id": srv.nextID(), "t": time.Now().Unix()},
			Content: []waBinary.Node{{
				Tag: "update", Attrs: waBinary.Attrs{"hash": randomString(8)},
			}},
		})
	}
}

func removePending(queue []*queued, match func(*queued) bool) []*queued {
	return slices.DeleteFunc(queue, match)
}
