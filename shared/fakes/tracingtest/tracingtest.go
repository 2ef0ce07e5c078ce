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

// Recorder holds every segment emitted while it is installed. The tracer is process-wide: while
// several tests have a Recorder installed, each receives every segment (see Install).
type Recorder struct {
	mu   sync.Mutex
	docs []string
}

// recorders is the emitter while at least one Recorder is installed: it hands each segment to
// every installed Recorder, so tests that install one may run in parallel. The first Install
// puts it in place; the last Recorder to leave restores UDP emission.
var recorders fanout

type fanout struct {
	mu   sync.Mutex
	recs []*Recorder
}

// Emit implements the X-Ray emitter for every installed Recorder.
func (f *fanout) Emit(seg *xray.Segment) {
	f.mu.Lock()
	recs := append([]*Recorder(nil), f.recs...)
	f.mu.Unlock()
	for _, r := range recs {
		r.Emit(seg)
	}
}

// RefreshEmitterWithAddress implements the X-Ray emitter; the fan-out has no address.
func (*fanout) RefreshEmitterWithAddress(*net.UDPAddr) {}

// Install routes segments to a new Recorder until the test ends, then restores UDP emission
// once no other test has one installed.
func Install(t testing.TB) *Recorder {
	t.Helper()
	r := &Recorder{}
	recorders.mu.Lock()
	defer recorders.mu.Unlock()
	if len(recorders.recs) == 0 {
		if err := tracing.Setup(); err != nil {
			t.Fatalf("tracing setup: %v", err)
		}
		if err := xray.Configure(xray.Config{Emitter: &recorders}); err != nil {
			t.Fatalf("install trace recorder: %v", err)
		}
	}
	recorders.recs = append(recorders.recs, r)
	t.Cleanup(func() {
		recorders.mu.Lock()
		defer recorders.mu.Unlock()
		for i, x := range recorders.recs {
			if x == r {
				recorders.recs = append(recorders.recs[:i], recorders.recs[i+1:]...)
				break
			}
		}
		if len(recorders.recs) > 0 {
			return
		}
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
