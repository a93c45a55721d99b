package awsjson

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// DefaultMaxClockSkew is how far a request's X-Amz-Date may be from the
// server's clock, as AWS allows.
const DefaultMaxClockSkew = 5 * time.Minute

// amzDateFormat is the ISO 8601 basic format of X-Amz-Date.
const amzDateFormat = "20060102T150405Z"

// SigV4 checks the AWS Signature Version 4 of requests: it parses the
// Authorization header, checks the credential scope and the date, finds the
// secret key of the access key ID, recomputes the signature over the
// received request with the AWS SDK's signer and compares. Failures are
// answered as AWS's front end answers them: MissingAuthenticationToken,
// IncompleteSignature, InvalidSignature (also for a request dated more than
// MaxClockSkew away) and UnrecognizedClient (an unknown access key), each
// with status 400, as AWS JSON services send them.
type SigV4 struct {
	// SigningName is the service's name in the credential scope ("kms",
	// "cloudhsm").
	SigningName string
	// Region is the region the endpoint serves.
	Region string
	// Keys maps access key IDs to their secret access keys.
	Keys map[string]string
	// MaxClockSkew is DefaultMaxClockSkew when zero.
	MaxClockSkew time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	signer *v4.Signer
}

// NewSigV4 returns a checker for requests to the service signingName in
// region, signed with one of keys (access key ID → secret access key).
func NewSigV4(signingName, region string, keys map[string]string) *SigV4 {
	return &SigV4{SigningName: signingName, Region: region, Keys: keys, signer: v4.NewSigner()}
}

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKey     string
	scopeDate     string
	scopeRegion   string
	scopeService  string
	scopeTerm     string
	signedHeaders []string
	signature     string
	date          time.Time
}

func authError(errType, msg string) *Error {
	return &Error{Type: errType, Status: http.StatusBadRequest, Message: msg}
}

// precheck checks everything that does not need the body: the header's
// form, the credential scope, the date and the access key. It returns the
// parsed header for Verify.
func (a *SigV4) precheck(r *http.Request) (*authorization, *Error) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, authError("MissingAuthenticationTokenException", "Request is missing Authentication Token")
	}
	auth, err := parseAuthorization(header, r.Header.Get("X-Amz-Date"))
	if err != nil {
		return nil, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	skew := a.MaxClockSkew
	if skew == 0 {
		skew = DefaultMaxClockSkew
	}
	t := now().UTC()
	switch {
	case auth.date.Before(t.Add(-skew)):
		return nil, authError("InvalidSignatureException", "Signature expired: "+auth.date.Format(amzDateFormat)+" is now earlier than "+
			t.Add(-skew).Format(amzDateFormat)+" ("+t.Format(amzDateFormat)+" - "+minutes(skew)+".)")
	case auth.date.After(t.Add(skew)):
		return nil, authError("InvalidSignatureException", "Signature not yet current: "+auth.date.Format(amzDateFormat)+" is still later than "+
			t.Add(skew).Format(amzDateFormat)+" ("+t.Format(amzDateFormat)+" + "+minutes(skew)+".)")
	case auth.scopeDate != auth.date.Format("20060102"):
		return nil, authError("InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '"+
			auth.scopeDate+"' != '"+auth.date.Format("20060102")+"', from '"+auth.date.Format(amzDateFormat)+"'.")
	case auth.scopeRegion != a.Region:
		return nil, authError("InvalidSignatureException", "Credential should be scoped to a valid region, not '"+auth.scopeRegion+"'. ")
	case auth.scopeService != a.SigningName:
		return nil, authError("InvalidSignatureException", "Credential should be scoped to correct service: '"+a.SigningName+"'. ")
	case auth.scopeTerm != "aws4_request":
		return nil, authError("InvalidSignatureException", "Credential should be scoped with a valid terminator: 'aws4_request', not '"+auth.scopeTerm+"'. ")
	}
	if _, ok := a.Keys[auth.accessKey]; !ok {
		return nil, authError("UnrecognizedClientException", "The security token included in the request is invalid.")
	}
	return auth, nil
}

// parseAuthorization reads "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…" and the X-Amz-Date header.
func parseAuthorization(header, amzDate string) (*authorization, *Error) {
	auth := &authorization{}
	var missing []string
	rest, isV4 := strings.CutPrefix(header, "AWS4-HMAC-SHA256 ")
	params := map[string]string{}
	if isV4 {
		for _, part := range strings.Split(rest, ",") {
			part = strings.TrimSpace(part)
			k, v, ok := strings.Cut(part, "=")
			if !ok {
				return nil, authError("IncompleteSignatureException", "'"+part+"' not a valid key=value pair (missing equal-sign) in Authorization header: '"+header+"'.")
			}
			params[k] = v
		}
	}
	for _, p := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[p] == "" {
			missing = append(missing, "Authorization header requires '"+p+"' parameter.")
		}
	}
	if amzDate == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, authError("IncompleteSignatureException", strings.Join(missing, " ")+" Authorization="+header)
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 {
		return nil, authError("IncompleteSignatureException", "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '"+params["Credential"]+"'")
	}
	auth.accessKey, auth.scopeDate, auth.scopeRegion, auth.scopeService, auth.scopeTerm = scope[0], scope[1], scope[2], scope[3], scope[4]
	auth.signedHeaders = strings.Split(params["SignedHeaders"], ";")
	auth.signature = params["Signature"]
	date, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return nil, authError("IncompleteSignatureException", "Date must be in ISO-8601 'basic format'. Got '"+amzDate+"'. See http://en.wikipedia.org/wiki/ISO_8601")
	}
	auth.date = date
	return auth, nil
}

// verify recomputes the signature of the received request (the headers it
// names as signed, the method, path, query and body) with the signer of
// the AWS SDK for Go and compares it with the one sent.
func (a *SigV4) verify(ctx context.Context, r *http.Request, auth *authorization, body []byte) *Error {
	req := &http.Request{Method: r.Method, Host: r.Host, Header: http.Header{},
		URL: &url.URL{Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}}
	for _, name := range auth.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			req.ContentLength = int64(len(body))
		default:
			if values := r.Header.Values(name); len(values) > 0 {
				req.Header[textproto.CanonicalMIMEHeaderKey(name)] = values
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: auth.accessKey, SecretAccessKey: a.Keys[auth.accessKey]}
	signer := a.signer
	if signer == nil {
		signer = v4.NewSigner()
	}
	if err := signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), a.SigningName, a.Region, auth.date); err != nil {
		return authError("InvalidSignatureException", "The request signature could not be computed: "+err.Error())
	}
	_, want, _ := strings.Cut(req.Header.Get("Authorization"), "Signature=")
	if !hmac.Equal([]byte(want), []byte(auth.signature)) {
		return authError("InvalidSignatureException", "The request signature we calculated does not match the signature you provided. "+
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

// minutes writes a skew as AWS messages do ("5 min").
func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return d.String()
}
