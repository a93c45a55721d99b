package hsmwire

import (
	"bufio"
	"io"
	"sync"
	"sync/atomic"
)

// FrameWriter writes frames from many goroutines to one connection. Each
// caller writes its own frame; the last of a burst of concurrent callers
// flushes, so under load one system call (and one TLS record) carries many
// frames, and an idle connection pays no hand-off to another goroutine.
type FrameWriter struct {
	waiting atomic.Int32
	mu      sync.Mutex
	bw      *bufio.Writer
	scratch []byte // encoding buffer, reused under mu
	err     error
}

// NewFrameWriter returns a FrameWriter over w.
func NewFrameWriter(w io.Writer) *FrameWriter {
	return &FrameWriter{bw: bufio.NewWriterSize(w, 64<<10)}
}

// Write sends one frame body. After the first failure every call fails.
func (fw *FrameWriter) Write(body []byte) error {
	return fw.WriteEncoded(func(buf []byte) []byte { return append(buf, body...) })
}

// WriteEncoded sends the frame body that encode appends to the buffer it is
// given; the buffer is the writer's own, reused from frame to frame, so
// sending allocates nothing.
func (fw *FrameWriter) WriteEncoded(encode func(buf []byte) []byte) error {
	fw.waiting.Add(1)
	fw.mu.Lock()
	defer fw.mu.Unlock()
	others := fw.waiting.Add(-1)
	if fw.err != nil {
		return fw.err
	}
	fw.scratch = encode(fw.scratch[:0])
	if err := WriteFrame(fw.bw, fw.scratch); err != nil {
		fw.err = err
		return err
	}
	// A caller still waiting for the lock will flush after its own frame.
	if others == 0 {
		if err := fw.bw.Flush(); err != nil {
			fw.err = err
			return err
		}
	}
	return nil
}
