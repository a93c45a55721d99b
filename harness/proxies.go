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

// address returns the loopback address of the proxy in front of an HSM
// whose node listens at upstream, starting the proxy (or re-pointing it
// after the node moved) as needed.
func (p *proxies) address(hsmID, upstream string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if px, ok := p.byHSM[hsmID]; ok {
		if px.Upstream == upstream {
			return px.Listen, nil
		}
		// The node restarted elsewhere: keep the proxy's address, move its
		// upstream (Update restarts it on the same listen address).
		update := &toxiproxy.Proxy{Listen: px.Listen, Upstream: upstream, Enabled: true}
		if err := px.Update(update); err != nil {
			return "", err
		}
		return px.Listen, nil
	}
	px := toxiproxy.NewProxy(p.server, hsmID, "127.0.0.1:0", upstream)
	if err := px.Start(); err != nil {
		return "", fmt.Errorf("proxy for %s: %w", hsmID, err)
	}
	p.byHSM[hsmID] = px
	return px.Listen, nil
}

// addToxic puts a toxic on both directions of the HSM's proxy.
func (p *proxies) addToxic(hsmID string, toxic faults.Toxic) (func() error, error) {
	p.mu.Lock()
	px, ok := p.byHSM[hsmID]
	p.seq++
	seq := p.seq
	p.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("no connection from KMS to %s goes through a proxy yet: connect a store first", hsmID)
	}
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

func (p *proxies) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, px := range p.byHSM {
		px.Stop()
	}
	p.byHSM = map[string]*toxiproxy.Proxy{}
}
