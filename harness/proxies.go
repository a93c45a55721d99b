package harness

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/kmsharness/kmsharness/faults"
	"github.com/kmsharness/kmsharness/internal/faultproxy"
)

// proxies puts a fault proxy between the KMS front end and each HSM node,
// so that network faults are real TCP behaviour (resets, black holes,
// latency) on the connections KMS holds.
type proxies struct {
	server *toxiproxy.ApiServer

	mu    sync.Mutex
	byHSM map[string]*faultproxy.Proxy
	seq   int
}

func newProxies() *proxies {
	return &proxies{
		server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		byHSM:  map[string]*faultproxy.Proxy{},
	}
}

// proxy returns the HSM's proxy, making it if the HSM has none yet; p.mu is
// held. A proxy is made by whichever comes first, KMS dialing the HSM or a
// fault putting a toxic in front of it, so that a fault injected before KMS
// ever connected is in place on KMS's first connection. It relays once KMS
// gives it the node's address.
func (p *proxies) proxy(hsmID string) (*faultproxy.Proxy, error) {
	px, ok := p.byHSM[hsmID]
	if !ok {
		var err error
		if px, err = faultproxy.New(p.server, hsmID); err != nil {
			return nil, err
		}
		p.byHSM[hsmID] = px
	}
	return px, nil
}

// address returns the loopback address of the proxy in front of an HSM
// whose node listens at upstream, re-pointing it (and closing the
// connections to the old address) after the node moved.
func (p *proxies) address(hsmID, upstream string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	px, err := p.proxy(hsmID)
	if err != nil {
		return "", err
	}
	px.SetUpstream(upstream)
	return px.Addr(), nil
}

// addToxic puts a toxic on both directions of the HSM's proxy.
func (p *proxies) addToxic(hsmID string, toxic faults.Toxic) (func() error, error) {
	p.mu.Lock()
	px, err := p.proxy(hsmID)
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var names []string
	remove := func() error {
		var errs []string
		for _, n := range names {
			if err := px.RemoveToxic(n); err != nil {
				errs = append(errs, err.Error())
			}
		}
		if len(errs) > 0 {
			return fmt.Errorf("remove toxics: %s", strings.Join(errs, "; "))
		}
		return nil
	}
	for _, stream := range []string{"upstream", "downstream"} {
		name := fmt.Sprintf("%s-%s-%d", toxic.Type(), stream, seq)
		body, _ := json.Marshal(map[string]any{"name": name, "type": toxic.Type(), "stream": stream, "toxicity": 1.0, "attributes": toxic.Attributes()})
		if err := px.AddToxicJSON(string(body)); err != nil {
			_ = remove()
			return nil, fmt.Errorf("add %s toxic: %w", toxic.Type(), err)
		}
		names = append(names, name)
	}
	return remove, nil
}

// remove stops the proxy in front of a deleted HSM.
func (p *proxies) remove(hsmID string) {
	p.mu.Lock()
	px, ok := p.byHSM[hsmID]
	delete(p.byHSM, hsmID)
	p.mu.Unlock()
	if ok {
		px.Close()
	}
}

func (p *proxies) close() {
	p.mu.Lock()
	all := p.byHSM
	p.byHSM = map[string]*faultproxy.Proxy{}
	p.mu.Unlock()
	for _, px := range all {
		px.Close()
	}
}
