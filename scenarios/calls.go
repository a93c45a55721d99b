package scenarios

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/kmsharness/kmsharness/control"
	"github.com/kmsharness/kmsharness/internal/sdkhttp"
)

// newKMSClient returns the SDK client every process of a run shares. It
// never retries: each recorded operation is one request, so that the
// history says what the target answered to each.
func newKMSClient(t Target) *kms.Client {
	httpClient := sdkhttp.NewClient(func(tr *http.Transport) {
		tr.MaxIdleConns = 256
		tr.MaxIdleConnsPerHost = 256
	})
	return kms.New(kms.Options{
		Region:       t.Region,
		BaseEndpoint: aws.String(t.Endpoint),
		Credentials:  t.Credentials,
		Retryer:      aws.NopRetryer{},
		HTTPClient:   httpClient,
	})
}

// classify turns a call's error into its outcome: an answer from the
// target is a failure with its exception; no answer (a timeout, a cut
// connection) is an unknown outcome.
func classify(err error) (string, *CallError) {
	if err == nil {
		return resultOK, nil
	}
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() == 0 {
		// No answer: the SDK wraps a cut connection or a cancelled call
		// in a response error without a response.
		return resultUnknown, nil
	}
	ce := &CallError{Status: re.HTTPStatusCode()}
	var de *smithy.DeserializationError
	var api smithy.APIError
	switch {
	case errors.As(err, &de):
		ce.Type, ce.Message = excNotAWSJSON, de.Error()
	case errors.As(err, &api):
		ce.Type, ce.Message = api.ErrorCode(), api.ErrorMessage()
		if ce.Type == "" || ce.Type == "UnknownError" {
			ce.Type = excUntyped
		}
	default:
		ce.Type, ce.Message = excUntyped, err.Error()
	}
	return resultFail, ce
}

// classifyControl turns a control call's error into its outcome: a 4xx is
// a refusal, a 5xx a server error, no answer an unknown outcome.
func classifyControl(err error) (string, *CallError) {
	if err == nil {
		return resultOK, nil
	}
	var se *control.StatusError
	if !errors.As(err, &se) {
		return resultUnknown, nil
	}
	ce := &CallError{Status: se.Status, Message: se.Message, Type: excControlRefusedError}
	if se.Status >= 500 {
		ce.Type = excControlServerError
	}
	return resultFail, ce
}

// process is one sequential caller of a run: a client, the observer, the
// nemesis, a repair.
type process struct {
	name     string
	workload string
	phase    string
}

// secrets are strings that must never reach the history (passwords the run
// knows); scrub replaces them.
type secrets struct {
	mu   sync.Mutex
	list []string
}

// add remembers a secret.
func (s *secrets) add(secret string) {
	s.mu.Lock()
	s.list = append(s.list, secret)
	s.mu.Unlock()
}

func (s *secrets) scrub(text string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, secret := range s.list {
		if secret != "" {
			text = strings.ReplaceAll(text, secret, "***")
		}
	}
	return text
}

// do makes one AWS call and records it: fn calls the SDK (with a context
// bounded by the scenario's op-timeout) and fills in what the answer says.
func (r *run) do(ctx context.Context, p *process, op Operation, fn func(ctx context.Context, op *Operation) error) *Operation {
	op.Process, op.Workload, op.Phase = p.name, p.workload, p.phase
	callCtx, cancel := context.WithTimeout(ctx, r.scenario.OpTimeout)
	op.Start = r.rec.now()
	err := fn(callCtx, &op)
	op.End = r.rec.now()
	cancel()
	op.Result, op.Error = classify(err)
	if op.Error != nil {
		op.Error.Message = r.secrets.scrub(op.Error.Message)
	}
	op.ID = r.rec.add(op)
	return &op
}

// doControl makes one call of the control API and records it.
func (r *run) doControl(ctx context.Context, p *process, op Operation, fn func(ctx context.Context, op *Operation) error) *Operation {
	op.Process, op.Workload, op.Phase = p.name, p.workload, p.phase
	op.Start = r.rec.now()
	err := fn(ctx, &op)
	op.End = r.rec.now()
	op.Result, op.Error = classifyControl(err)
	if op.Error != nil {
		op.Error.Message = r.secrets.scrub(op.Error.Message)
	}
	op.ID = r.rec.add(op)
	return &op
}
