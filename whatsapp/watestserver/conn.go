package watestserver

import (
	"bytes"
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
	"google.golang.org/protobuf/proto"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/binary/token"
	"go.mau.fi/whatsmeow/proto/waWa6"
	"go.mau.fi/whatsmeow/util/keys"
)

// connHeader is what a WhatsApp web client sends before its first frame.
var connHeader = []byte{'W', 'A', 6, token.DictVersion}

const maxFrameSize = 1 << 24

// conn is one client websocket after (or during) the Noise handshake.
type conn struct {
	srv *Server
	ws  *websocket.Conn
	ctx context.Context
	log zerolog.Logger

	cancel context.CancelFunc

	buf       []byte
	gotHeader bool

	readKey, writeKey cipher.AEAD
	readCounter       uint32
	writeCounter      uint32
	writeLock         sync.Mutex

	// clientStatic is the client's Noise static key: its identity towards the server.
	clientStatic [32]byte
	payload      *waWa6.ClientPayload

	// Set once, under srv.mu: the device this connection logged in as, or the pending pairing.
	device  *device
	pairing *pairing

	closed atomic.Bool
	done   chan struct{}

	waitersLock sync.Mutex
	waiters     map[string]chan *waBinary.Node
}

// sendIQ sends a server-initiated iq and waits for the client's result or error.
func (c *conn) sendIQ(ctx context.Context, node waBinary.Node) (*waBinary.Node, error) {
	id, _ := node.Attrs["id"].(string)
	ch := make(chan *waBinary.Node, 1)
	c.waitersLock.Lock()
	c.waiters[id] = ch
	c.waitersLock.Unlock()
	defer func() {
		c.waitersLock.Lock()
		delete(c.waiters, id)
		c.waitersLock.Unlock()
	}()
	if err := c.send(node); err != nil {
		return nil, err
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return nil, errConnClosed
		}
		return resp, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.ctx.Done():
		return nil, errConnClosed
	}
}

func (c *conn) resolveWaiter(node *waBinary.Node) {
	id, _ := node.Attrs["id"].(string)
	c.waitersLock.Lock()
	ch, ok := c.waiters[id]
	delete(c.waiters, id)
	c.waitersLock.Unlock()
	if ok {
		ch <- node
	}
}

func (c *conn) failWaiters() {
	c.waitersLock.Lock()
	defer c.waitersLock.Unlock()
	for id, ch := range c.waiters {
		close(ch)
		delete(c.waiters, id)
	}
}

// readFrame returns the next length-prefixed frame from the websocket.
func (c *conn) readFrame(ctx context.Context) ([]byte, error) {
	for {
		if !c.gotHeader && len(c.buf) >= len(connHeader) {
			if !bytes.Equal(c.buf[:len(connHeader)], connHeader) {
				return nil, fmt.Errorf("unexpected connection header %x (want %x)", c.buf[:len(connHeader)], connHeader)
			}
			c.buf = c.buf[len(connHeader):]
			c.gotHeader = true
		}
		if c.gotHeader && len(c.buf) >= 3 {
			size := int(c.buf[0])<<16 | int(c.buf[1])<<8 | int(c.buf[2])
			if len(c.buf) >= 3+size {
				frame := append([]byte(nil), c.buf[3:3+size]...)
				c.buf = c.buf[3+size:]
				return frame, nil
			}
		}
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			return nil, err
		}
		if typ != websocket.MessageBinary {
			continue
		}
		c.buf = append(c.buf, data...)
	}
}

func (c *conn) writeFrame(ctx context.Context, data []byte) error {
	if len(data) >= maxFrameSize {
		return fmt.Errorf("frame of %d bytes is over the %d byte limit", len(data), maxFrameSize)
	}
	frame := make([]byte, 3+len(data))
	frame[0], frame[1], frame[2] = byte(len(data)>>16), byte(len(data)>>8), byte(len(data))
	copy(frame[3:], data)
	return c.ws.Write(ctx, websocket.MessageBinary, frame)
}

// handshake runs the server side of the Noise XX handshake and returns the client's payload.
func (c *conn) handshake(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	first, err := c.readFrame(ctx)
	if err != nil {
		return fmt.Errorf("read client hello: %w", err)
	}
	var hello waWa6.HandshakeMessage
	if err = proto.Unmarshal(first, &hello); err != nil {
		return fmt.Errorf("parse client hello: %w", err)
	}
	clientEphemeral := hello.GetClientHello().GetEphemeral()
	if len(clientEphemeral) != 32 {
		return fmt.Errorf("client hello ephemeral key is %d bytes, want 32", len(clientEphemeral))
	}
	ns, err := newNoiseState(connHeader)
	if err != nil {
		return err
	}
	ns.authenticate(clientEphemeral)
	ephemeral := keys.NewKeyPair()
	ns.authenticate(ephemeral.Pub[:])
	if err = ns.mixDH(ephemeral.Priv[:], clientEphemeral); err != nil {
		return err
	}
	encStatic := ns.encrypt(c.srv.static.Pub[:])
	if err = ns.mixDH(c.srv.static.Priv[:], clientEphemeral); err != nil {
		return err
	}
	encCert := ns.encrypt(c.srv.certChain)
	resp, err := proto.Marshal(&waWa6.HandshakeMessage{ServerHello: &waWa6.HandshakeMessage_ServerHello{
		Ephemeral: ephemeral.Pub[:],
		Static:    encStatic,
		Payload:   encCert,
	}})
	if err != nil {
		return fmt.Errorf("marshal server hello: %w", err)
	}
	if err = c.writeFrame(ctx, resp); err != nil {
		return fmt.Errorf("send server hello: %w", err)
	}
	second, err := c.readFrame(ctx)
	if err != nil {
		return fmt.Errorf("read client finish: %w", err)
	}
	var finish waWa6.HandshakeMessage
	if err = proto.Unmarshal(second, &finish); err != nil {
		return fmt.Errorf("parse client finish: %w", err)
	}
	clientStatic, err := ns.decrypt(finish.GetClientFinish().GetStatic())
	if err != nil || len(clientStatic) != 32 {
		return fmt.Errorf("decrypt client static key: %v (len %d)", err, len(clientStatic))
	}
	copy(c.clientStatic[:], clientStatic)
	if err = ns.mixDH(ephemeral.Priv[:], clientStatic); err != nil {
		return err
	}
	payloadBytes, err := ns.decrypt(finish.GetClientFinish().GetPayload())
	if err != nil {
		return fmt.Errorf("decrypt client payload: %w", err)
	}
	c.payload = &waWa6.ClientPayload{}
	if err = proto.Unmarshal(payloadBytes, c.payload); err != nil {
		return fmt.Errorf("parse client payload: %w", err)
	}
	c.readKey, c.writeKey, err = ns.split()
	return err
}

// readNode reads and decrypts the next node from the client.
func (c *conn) readNode(ctx context.Context) (*waBinary.Node, error) {
	frame, err := c.readFrame(ctx)
	if err != nil {
		return nil, err
	}
	plaintext, err := c.readKey.Open(frame[:0], nonce(c.readCounter), frame, nil)
	c.readCounter++
	if err != nil {
		return nil, fmt.Errorf("decrypt frame %d: %w", c.readCounter-1, err)
	}
	data, err := waBinary.Unpack(plaintext)
	if err != nil {
		return nil, fmt.Errorf("unpack frame: %w", err)
	}
	node, err := waBinary.Unmarshal(data)
	if err != nil {
		return nil, fmt.Errorf("decode node: %w", err)
	}
	return node, nil
}

var errConnClosed = errors.New("connection is closed")

// send encrypts and writes a node to the client.
func (c *conn) send(node waBinary.Node) error {
	if c.closed.Load() {
		return errConnClosed
	}
	data, err := waBinary.Marshal(node)
	if err != nil {
		return fmt.Errorf("encode %s node: %w", node.Tag, err)
	}
	c.writeLock.Lock()
	defer c.writeLock.Unlock()
	ct := c.writeKey.Seal(nil, nonce(c.writeCounter), data, nil)
	c.writeCounter++
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	if err = c.writeFrame(ctx, ct); err != nil {
		return fmt.Errorf("write %s node: %w", node.Tag, err)
	}
	if c.log.GetLevel() <= zerolog.TraceLevel {
		c.log.Trace().Str("node", node.XMLString()).Msg("Sent node")
	}
	return nil
}

// close ends the connection. With a final node (stream:error or failure), that node is sent
// first and the client gets a moment to handle it and hang up itself, as whatsmeow handles nodes
// asynchronously and would drop one that arrives together with the close.
func (c *conn) close(final *waBinary.Node) {
	if final != nil {
		_ = c.send(*final)
	}
	if c.closed.CompareAndSwap(false, true) {
		go func() {
			if final != nil {
				select {
				case <-c.done:
				case <-time.After(finalNodeGrace):
				}
			}
			_ = c.ws.Close(websocket.StatusNormalClosure, "")
			c.cancel()
		}()
	}
}

// finalNodeGrace is how long a client may take to hang up after a stream error.
const finalNodeGrace = 2 * time.Second
