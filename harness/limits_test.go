package harness_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/kmsharness/kmsharness/harness"
)

// rawConn is one client TCP connection to an HTTP endpoint of the harness.
type rawConn struct {
	net.Conn
	r    *bufio.Reader
	host string
}

func dialEndpoint(endpoint string) *rawConn {
	u, err := url.Parse(endpoint)
	Expect(err).NotTo(HaveOccurred())
	c, err := net.Dial("tcp", u.Host)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { _ = c.Close() })
	return &rawConn{Conn: c, r: bufio.NewReader(c), host: u.Host}
}

// header writes a request header announcing a body of length bytes.
func (c *rawConn) header(target string, length int) {
	_, err := fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-amz-json-1.1\r\nX-Amz-Target: %s\r\nContent-Length: %d\r\n\r\n",
		c.host, target, length)
	Expect(err).NotTo(HaveOccurred())
}

// call sends a whole request and reads its answer.
func (c *rawConn) call(target string) *http.Response {
	c.header(target, 2)
	_, err := io.WriteString(c, "{}")
	Expect(err).NotTo(HaveOccurred())
	return c.answer()
}

func (c *rawConn) answer() *http.Response {
	resp, err := http.ReadResponse(c.r, nil)
	Expect(err).NotTo(HaveOccurred())
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// closedByServer reports whether the server closed the connection.
func (c *rawConn) closedByServer() bool {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := c.r.Peek(1)
	ne, ok := err.(net.Error)
	return err != nil && !(ok && ne.Timeout())
}

var _ = Describe("The harness's HTTP servers", Ordered, func() {
	var limited *harness.Harness
	BeforeAll(func(ctx SpecContext) {
		var err error
		limited, err = harness.Start(ctx, harness.WithAuth(harness.AuthNone),
			harness.WithServerLimits(harness.ServerLimits{ReadTimeout: time.Second, IdleTimeout: 500 * time.Millisecond, MaxConnections: 2}))
		DeferCleanup(func() { Expect(limited.Close(context.Background())).To(Succeed()) })
		Expect(err).NotTo(HaveOccurred())
	})

	It("close an idle keep-alive connection, on every endpoint", func() {
		for _, c := range []struct{ endpoint, target string }{
			{limited.KMSEndpoint(), "TrentService.ListKeys"},
			{limited.CloudHSMEndpoint(), "BaldrApiService.DescribeClusters"},
		} {
			conn := dialEndpoint(c.endpoint)
			Expect(conn.call(c.target).StatusCode).To(Equal(http.StatusOK))
			Eventually(conn.closedByServer).Should(BeTrue(), "%s closes the idle connection", c.endpoint)
		}
		control := dialEndpoint(limited.ControlEndpoint())
		_, err := fmt.Fprintf(control, "GET /faults HTTP/1.1\r\nHost: %s\r\n\r\n", control.host)
		Expect(err).NotTo(HaveOccurred())
		control.answer()
		Eventually(control.closedByServer).Should(BeTrue(), "the control endpoint closes the idle connection")
	})

	It("cut off a body trickled in slowly with 408 RequestTimeoutException", func() {
		conn := dialEndpoint(limited.KMSEndpoint())
		conn.header("TrentService.ListKeys", 1000)
		stop := make(chan struct{})
		DeferCleanup(func() { close(stop) })
		go func() {
			t := time.NewTicker(100 * time.Millisecond) // the 1,000 bytes would take 100 s
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
			}
		}()
		Expect(conn.SetReadDeadline(time.Now().Add(time.Minute))).To(Succeed())
		resp := conn.answer()
		Expect(resp.StatusCode).To(Equal(http.StatusRequestTimeout))
		Expect(resp.Header.Get("X-Amzn-ErrorType")).To(Equal("RequestTimeoutException"))
		Eventually(conn.closedByServer).Should(BeTrue())
	})
})

var _ = Describe("A harness HTTP server with a connection cap", Ordered, func() {
	var capped *harness.Harness
	BeforeAll(func(ctx SpecContext) {
		var err error
		capped, err = harness.Start(ctx, harness.WithAuth(harness.AuthNone), harness.WithServerLimits(harness.ServerLimits{MaxConnections: 2}))
		DeferCleanup(func() { Expect(capped.Close(context.Background())).To(Succeed()) })
		Expect(err).NotTo(HaveOccurred())
	})

	It("serves at most MaxConnections at once; the next is served when one closes", func() {
		// Two keep-alive connections, idle after one request each, hold both
		// places (the idle timeout is the default 90 s).
		first := dialEndpoint(capped.KMSEndpoint())
		Expect(first.call("TrentService.ListKeys").StatusCode).To(Equal(http.StatusOK))
		second := dialEndpoint(capped.KMSEndpoint())
		Expect(second.call("TrentService.ListKeys").StatusCode).To(Equal(http.StatusOK))
		third := dialEndpoint(capped.KMSEndpoint())
		answered := make(chan int, 1)
		go func() {
			defer GinkgoRecover()
			third.header("TrentService.ListKeys", 2)
			_, _ = io.WriteString(third, "{}")
			resp, err := http.ReadResponse(third.r, nil)
			if err == nil {
				answered <- resp.StatusCode
			}
		}()
		Consistently(answered, 500*time.Millisecond).ShouldNot(Receive(), "the third connection waits")
		Expect(first.Close()).To(Succeed())
		Eventually(answered).Should(Receive(Equal(http.StatusOK)))
	})
})
