package watestserver

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// isWhatsAppHost reports whether the proxy routes a host to the test server.
func isWhatsAppHost(host string) bool {
	host = strings.ToLower(host)
	return host == "whatsapp.com" || host == "whatsapp.net" ||
		strings.HasSuffix(host, ".whatsapp.com") || strings.HasSuffix(host, ".whatsapp.net")
}

// serveProxy is an HTTP CONNECT proxy that tunnels every WhatsApp host to the TLS listener and
// refuses everything else, so a process under test cannot reach anything but the test server.
func (srv *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "this test proxy only does CONNECT", http.StatusMethodNotAllowed)
		return
	}
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if !isWhatsAppHost(host) {
		srv.log.Warn().Str("host", r.Host).Msg("Proxy refused a non-WhatsApp host")
		http.Error(w, "the WhatsApp test proxy only reaches WhatsApp hosts", http.StatusForbidden)
		return
	}
	upstream, err := net.DialTimeout("tcp", srv.tlsListener.Addr().String(), 5*time.Second)
	if err != nil {
		http.Error(w, "test server unreachable: "+err.Error(), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		_ = upstream.Close()
		http.Error(w, "connection cannot be hijacked", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		_ = upstream.Close()
		return
	}
	if _, err = client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n")); err != nil {
		_ = client.Close()
		_ = upstream.Close()
		return
	}
	if n := buf.Reader.Buffered(); n > 0 {
		pending, _ := buf.Reader.Peek(n)
		if _, err = upstream.Write(pending); err != nil {
			_ = client.Close()
			_ = upstream.Close()
			return
		}
	}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		pipe(client, upstream, srv.ctx.Done())
	}()
}

// pipe copies both ways until either side closes or stop is closed.
func pipe(a, b net.Conn, stop <-chan struct{}) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = a.Close()
			_ = b.Close()
		})
	}
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(a, b); done <- struct{}{} }()
	go func() { _, _ = io.Copy(b, a); done <- struct{}{} }()
	select {
	case <-done:
	case <-stop:
	}
	closeBoth()
	<-done
}
