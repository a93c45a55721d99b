package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/Shopify/toxiproxy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/kmsharness/kmsharness/faults"
)

// proxies puts an embedded toxiproxy proxy between the KMS front end and
// each HSM node, so that network faults are real TCP behaviour (resets,
// black holes, latency) on the connections KMS holds.
type proxies struct {
	server *toxiproxy.ApiServer

	mu    sync.Mutex
	byHSM map[string]*toxiproxy.Proxy
	seq   int
}

func newProxies() *proxies {
	return &proxies{
		server: toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop()),
		byHSM:  map[string]*toxiproxy.Proxy{},
	}
}

// proxy returns the HSM's proxy, making it if the HSM has none yet; p.mu is
// held. A proxy is made by whichever comes first, KMS dialing the HSM or a
// fault putting a toxic in front of it, so that a fault injected before KMS
// ever connected is in place on KMS's first connection. It starts once KMS
// gives it the node's address.
func (p *proxies) proxy(hsmID string) *toxiproxy.Proxy {
	px, ok := p.byHSM[hsmID]
	if !ok {
		px = toxiproxy.NewProxy(p.server, hsmID, "127.0.0.1:0", "")
		p.byHSM[hsmID] = px
	}
	return px
}

// address returns the loopback address of the proxy in front of an HSM
// whose node listens at upstream, starting the proxy (or re-pointing it
// after the node moved) as needed.
func (p *proxies) address(hsmID, upstream string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	px := p.proxy(hsmID)
	if px.Enabled && px.Upstream == upstream {
		return px.Listen, nil
	}
	// Update starts a proxy not started yet, and restarts a started one
	// on its listen address with the node's new address, its toxics kept.
	if err := px.Update(&toxiproxy.Proxy{Listen: px.Listen, Upstream: upstream, Enabled: true}); err != nil {
		return "", fmt.Errorf("proxy for %s: %w", hsmID, err)
	}
	return px.Listen, nil
}

// addToxic puts a toxic on both directions of the HSM's proxy.
func (p *proxies) addToxic(hsmID string, toxic faults.Toxic) (func() error, error) {
	p.mu.Lock()
	px := p.proxy(hsmID)
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	var names []string
	remove := func() error {
		var errs []string
		for _, n := range names {
			if err := px.Toxics.RemoveToxic(context.Background(), n); err != nil {
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
		if _, err := px.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
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
	defer p.mu.Unlock()
	if px, ok := p.byHSM[hsmID]; ok {
		px.Stop()
		delete(p.byHSM, hsmID)
	}
}

func (p *proxies) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, px := range p.byHSM {
		px.Stop()
	}
	p.byHSM = map[string]*toxiproxy.Proxy{}
}
