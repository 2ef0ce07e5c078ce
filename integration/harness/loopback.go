package harness

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"
)

// NonLoopbackAddrs lists this machine's IPv4 and IPv6 unicast addresses outside the loopback
// range: where a server bound to every interface is reachable from the network.
func NonLoopbackAddrs(t testing.TB) []net.IP {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatalf("list the interface addresses: %v", err)
	}
	var out []net.IP
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok || n.IP.IsLoopback() || n.IP.IsLinkLocalUnicast() || n.IP.IsMulticast() || n.IP.IsUnspecified() {
			continue
		}
		out = append(out, n.IP)
	}
	return out
}

// RefusedBeyondLoopback fails the test when the TCP port of serverURL accepts a connection on
// any address of this machine outside the loopback range (a server that should listen on
// 127.0.0.1 only). It returns how many addresses it tried: on a machine with no other address
// there is nothing to reach the port through.
func RefusedBeyondLoopback(t testing.TB, what, serverURL string) int {
	t.Helper()
	u, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatalf("%s: no port in %s", what, serverURL)
	}
	ips := NonLoopbackAddrs(t)
	d := net.Dialer{Timeout: 2 * time.Second}
	for _, ip := range ips {
		addr := net.JoinHostPort(ip.String(), strconv.Itoa(port))
		conn, err := d.DialContext(context.Background(), "tcp", addr)
		if err == nil {
			_ = conn.Close()
			t.Errorf("%s accepts connections on %s: it must listen on the loopback address only", what, addr)
		}
	}
	return len(ips)
}
