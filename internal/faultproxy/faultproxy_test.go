package faultproxy_test

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/internal/faultproxy"
)

// echoServer echoes every connection back until it closes; it stops with
// the spec.
func echoServer() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c); _ = c.Close() })
		}
	})
	DeferCleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func newProxy(upstream string) *faultproxy.Proxy {
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	p, err := faultproxy.New(server, "test")
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(p.Close)
	if upstream != "" {
		p.SetUpstream(upstream)
	}
	return p
}

func dial(p *faultproxy.Proxy) net.Conn {
	c, err := net.Dial("tcp", p.Addr())
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(c.Close)
	return c
}

// echoes reports whether one message makes it through c and back.
func echoes(c net.Conn, msg string) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	defer func() { _ = c.SetDeadline(time.Time{}) }()
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	back := make([]byte, len(msg))
	if _, err := io.ReadFull(c, back); err != nil {
		return err
	}
	if string(back) != msg {
		return fmt.Errorf("echoed %q, sent %q", back, msg)
	}
	return nil
}

func toxic(name, typ, stream string, attrs string) string {
	return fmt.Sprintf(`{"name":%q,"type":%q,"stream":%q,"toxicity":1,"attributes":%s}`, name, typ, stream, attrs)
}

var _ = Describe("A fault proxy", func() {
	It("relays a stream both ways, every byte once and in order, while toxics are added and removed under it", func() {
		p := newProxy(echoServer())
		c := dial(p)
		const n = 20000
		sent := make(chan error, 1)
		go func() {
			w := bufio.NewWriter(c)
			var b [8]byte
			for i := range uint64(n) {
				binary.BigEndian.PutUint64(b[:], i)
				if _, err := w.Write(b[:]); err != nil {
					sent <- err
					return
				}
				if i%64 == 0 {
					if err := w.Flush(); err != nil {
						sent <- err
						return
					}
				}
			}
			sent <- w.Flush()
		}()
		received := make(chan error, 1)
		go func() {
			r := bufio.NewReader(c)
			var b [8]byte
			for i := range uint64(n) {
				if _, err := io.ReadFull(r, b[:]); err != nil {
					received <- fmt.Errorf("after %d numbers: %w", i, err)
					return
				}
				if got := binary.BigEndian.Uint64(b[:]); got != i {
					received <- fmt.Errorf("number %d came back as %d", i, got)
					return
				}
			}
			received <- nil
		}()
		for i := range 5 {
			up, down := fmt.Sprintf("latency-up-%d", i), fmt.Sprintf("latency-down-%d", i)
			Expect(p.AddToxicJSON(toxic(up, "latency", "upstream", `{"latency":1}`))).To(Succeed())
			Expect(p.AddToxicJSON(toxic(down, "latency", "downstream", `{"latency":1}`))).To(Succeed())
			Expect(p.RemoveToxic(up)).To(Succeed())
			Expect(p.RemoveToxic(down)).To(Succeed())
		}
		Eventually(sent).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
		Eventually(received).WithTimeout(30 * time.Second).Should(Receive(BeNil()))
	})

	It("puts a toxic on a connection opened before it", func() {
		p := newProxy(echoServer())
		c := dial(p)
		Expect(echoes(c, "before")).To(Succeed())
		Expect(p.AddToxicJSON(toxic("reset", "reset_peer", "downstream", `{"timeout":0}`))).To(Succeed())
		// The peer resets the connection: an end or a reset, not a wait.
		Eventually(func() error { return echoes(c, "after") }).Should(SatisfyAll(HaveOccurred(), Not(Satisfy(isTimeout))))
	})

	It("puts a toxic on a connection opened while it is set, and relays directly again once it is gone", func() {
		p := newProxy(echoServer())
		Expect(p.AddToxicJSON(toxic("reset", "reset_peer", "downstream", `{"timeout":0}`))).To(Succeed())
		Eventually(func() error { return echoes(dial(p), "during") }).Should(HaveOccurred())
		Expect(p.RemoveToxic("reset")).To(Succeed())
		Expect(echoes(dial(p), "after")).To(Succeed())
	})

	It("closes connections until it has an upstream, and those to an old upstream when it moves", func() {
		p := newProxy("")
		Expect(echoes(dial(p), "nowhere")).To(HaveOccurred())

		p.SetUpstream(echoServer())
		old := dial(p)
		Expect(echoes(old, "first")).To(Succeed())
		p.SetUpstream(echoServer())
		Eventually(func() error { return echoes(old, "again") }).Should(HaveOccurred())
		Expect(echoes(dial(p), "second")).To(Succeed())
	})

	It("closes every connection, direct or through a toxic, and stops listening when closed", func() {
		p := newProxy(echoServer())
		direct := dial(p)
		Expect(echoes(direct, "direct")).To(Succeed())
		Expect(p.AddToxicJSON(toxic("slow", "latency", "upstream", `{"latency":1}`))).To(Succeed())
		toxic := dial(p)
		Expect(echoes(toxic, "toxic")).To(Succeed())
		addr := p.Addr()
		p.Close()
		for _, c := range []net.Conn{direct, toxic} {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err := c.Read(make([]byte, 1))
			Expect(err).To(SatisfyAll(HaveOccurred(), Not(Satisfy(isTimeout))), "a read after Close ends the connection")
		}
		_, err := net.Dial("tcp", addr)
		Expect(err).To(HaveOccurred())
	})
})

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
