// Package tracingtest captures the trace segments a test produces, as the JSON documents the
// daemon would receive, without a daemon.
package tracingtest

import (
	"encoding/json"
	"net"
	"sync"
	"testing"

	"github.com/aws/aws-xray-sdk-go/daemoncfg"
	"github.com/aws/aws-xray-sdk-go/xray"

	"github.com/lanyardhq/lanyard/shared/platform/tracing"
)

// Recorder holds every segment emitted while it is installed. The tracer is process-wide,
// so tests that install a Recorder must not run in parallel with each other.
type Recorder struct {
	mu   sync.Mutex
	docs []string
}

// Install routes segments to a new Recorder until the test ends, then restores UDP emission.
func Install(t testing.TB) *Recorder {
	t.Helper()
	if err := tracing.Setup(); err != nil {
		t.Fatalf("tracing setup: %v", err)
	}
	r := &Recorder{}
	if err := xray.Configure(xray.Config{Emitter: r}); err != nil {
		t.Fatalf("install trace recorder: %v", err)
	}
	t.Cleanup(func() {
		ep, err := daemoncfg.GetDaemonEndpointsFromEnv()
		if err != nil || ep == nil {
			ep = daemoncfg.GetDefaultDaemonEndpoints()
		}
		em, err := xray.NewDefaultEmitter(ep.UDPAddr)
		if err != nil {
			t.Errorf("restore trace emitter: %v", err)
			return
		}
		if err := xray.Configure(xray.Config{Emitter: em}); err != nil {
			t.Errorf("restore trace emitter: %v", err)
		}
		if err := tracing.Setup(); err != nil {
			t.Errorf("restore tracing: %v", err)
		}
	})
	return r
}

// Emit implements the X-Ray emitter: it keeps the segment as JSON.
func (r *Recorder) Emit(seg *xray.Segment) {
	// The tracer calls Emit with the segment already locked, as its own emitter expects.
	b, err := json.Marshal(seg)
	if err != nil {
		return
	}
	r.mu.Lock()
	r.docs = append(r.docs, string(b))
	r.mu.Unlock()
}

// RefreshEmitterWithAddress implements the X-Ray emitter; the recorder has no address.
func (*Recorder) RefreshEmitterWithAddress(*net.UDPAddr) {}

// Documents returns the JSON of every segment emitted so far.
func (r *Recorder) Documents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.docs...)
}
