// Package secrettest plants canary secrets in a test and fails the test when one shows up
// where secrets must never be: captured logs, error strings, trace segments, or any other
// text the test hands it (process output, CloudWatch Logs events, problem bodies).
//
// Use it in every test that touches secret material:
//
//	c := secrettest.Plant(t)
//	key := c.New("partner-key")   // a secret.Value with a unique random plaintext
//	err := doWork(ctx, key)       // slog.Default and the tracer are captured by c
//	c.CheckError(err)
//
// Plant routes the process-wide slog default and trace emitter to every test that planted
// canaries and is still running, so tests using it may run in parallel: each capture then
// also holds what the others logged, which can only make its check stricter. Failure messages
// never print a canary's value.
package secrettest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/lanyardhq/lanyard/shared/fakes/tracingtest"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
)

// Canaries is the set planted in one test and the text captured for inspection.
type Canaries struct {
	t      testing.TB
	mu     sync.Mutex
	names  []string
	values []string
	texts  []captured
	logs   *lockedBuffer
	traces *tracingtest.Recorder
}

type captured struct {
	where string
	text  string
}

// Plant starts capturing slog.Default (JSON at debug level) and trace segments, and checks
// everything captured when the test ends.
func Plant(t testing.TB) *Canaries {
	t.Helper()
	c := &Canaries{t: t, logs: &lockedBuffer{}}
	c.traces = tracingtest.Install(t)
	logSinks.add(c.logs)
	t.Cleanup(func() {
		logSinks.remove(c.logs)
		for _, leak := range c.Leaks() {
			t.Errorf("secret canary leaked: %s", leak)
		}
	})
	return c
}

// New returns a fresh canary secret. Its plaintext is unique, random and starts with label.
func (c *Canaries) New(label string) secret.Value {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	v := "canary-" + label + "-" + hex.EncodeToString(b)
	c.mu.Lock()
	c.names = append(c.names, label)
	c.values = append(c.values, v)
	c.mu.Unlock()
	return secret.New(v)
}

// Add registers a secret the test did not mint (a key returned by the API under test) so it
// is watched like a canary. The label names it in failure messages.
func (c *Canaries) Add(label, plaintext string) {
	if plaintext == "" {
		return
	}
	c.mu.Lock()
	c.names = append(c.names, label)
	c.values = append(c.values, plaintext)
	c.mu.Unlock()
}

// Logger returns a logger writing into the capture, for code that takes a logger.
func (c *Canaries) Logger() *slog.Logger { return logging.NewJSON(c.logs, slog.LevelDebug) }

// Writer returns a writer into the capture, e.g. for a child process's output.
func (c *Canaries) Writer() io.Writer { return c.logs }

// CheckError captures err's message (the whole wrapped chain) for inspection.
func (c *Canaries) CheckError(err error) {
	if err != nil {
		c.CheckText("error", err.Error())
	}
}

// CheckText captures any other text that must hold no secret, under a name for the report.
func (c *Canaries) CheckText(where, text string) {
	c.mu.Lock()
	c.texts = append(c.texts, captured{where: where, text: text})
	c.mu.Unlock()
}

// Leaks lists where each canary appeared, plainly or base64- or hex-encoded, without its value.
func (c *Canaries) Leaks() []string {
	c.mu.Lock()
	texts := append([]captured{{"logs", c.logs.String()}}, c.texts...)
	for i, doc := range c.traces.Documents() {
		texts = append(texts, captured{fmt.Sprintf("trace segment %d", i), doc})
	}
	names, values := append([]string(nil), c.names...), append([]string(nil), c.values...)
	c.mu.Unlock()

	var leaks []string
	for i, v := range values {
		forms := map[string]string{
			"plain":  v,
			"base64": base64.StdEncoding.EncodeToString([]byte(v)),
			"hex":    hex.EncodeToString([]byte(v)),
		}
		for _, tx := range texts {
			for form, needle := range forms {
				if at := strings.Index(tx.text, needle); at >= 0 {
					leaks = append(leaks, fmt.Sprintf("canary %q (%s) found in %s at byte %d", names[i], form, tx.where, at))
				}
			}
		}
	}
	return leaks
}

// logSinks is where slog.Default writes while at least one test has planted canaries: the
// captures of every such test. The first capture installs it as the default logger; the last
// to leave puts the previous default back.
var logSinks fanout

type fanout struct {
	mu    sync.Mutex
	sinks []*lockedBuffer
	prev  *slog.Logger
}

func (f *fanout) add(b *lockedBuffer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.sinks) == 0 {
		f.prev = slog.Default()
		slog.SetDefault(logging.NewJSON(f, slog.LevelDebug))
	}
	f.sinks = append(f.sinks, b)
}

func (f *fanout) remove(b *lockedBuffer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, s := range f.sinks {
		if s == b {
			f.sinks = append(f.sinks[:i], f.sinks[i+1:]...)
			break
		}
	}
	if len(f.sinks) == 0 && f.prev != nil {
		slog.SetDefault(f.prev)
		f.prev = nil
	}
}

// Write copies one log record into every capture.
func (f *fanout) Write(p []byte) (int, error) {
	f.mu.Lock()
	sinks := append([]*lockedBuffer(nil), f.sinks...)
	f.mu.Unlock()
	for _, s := range sinks {
		_, _ = s.Write(p)
	}
	return len(p), nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
