package kms

import (
	"context"
	"strings"
	"time"

	"github.com/kmsharness/kmsharness/internal/awsjson"
)

type aliasInput struct {
	AliasName   string
	TargetKeyID string `json:"TargetKeyId"`
}

type aliasNameInput struct {
	AliasName string
}

func checkAliasName(name string) error {
	if !strings.HasPrefix(name, "alias/") || len(name) == len("alias/") {
		return kmsError("InvalidAliasNameException", "Alias %s must begin with 'alias/' followed by a name.", name)
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return kmsError("InvalidAliasNameException", "Alias %s is reserved for AWS managed keys.", name)
	}
	return nil
}

// aliasTarget resolves the key an alias is to point at; s.mu is held.
func (s *Service) aliasTarget(ref string) (*key, error) {
	k, err := s.resolveKey(ref, keyIDOrARN)
	if err != nil {
		return nil, err
	}
	if k.State == KeyPendingDeletion {
		return nil, invalidState("%s is pending deletion.", k.ARN)
	}
	return k, nil
}

func (s *Service) createAlias(_ context.Context, in *aliasInput) (any, error) {
	if err := checkAliasName(in.AliasName); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.aliases[in.AliasName]; exists {
		return nil, kmsError("AlreadyExistsException", "An alias with the name %s already exists", s.aliasARN(in.AliasName))
	}
	k, err := s.aliasTarget(in.TargetKeyID)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	a := &alias{Seq: s.nextSeq(), Name: in.AliasName, KeyID: k.ID, Created: now, Updated: now}
	s.aliases[a.Name] = a
	s.persistAlias(a)
	return struct{}{}, nil
}

func (s *Service) updateAlias(_ context.Context, in *aliasInput) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.aliases[in.AliasName]
	if !ok {
		return nil, kmsError("NotFoundException", "Alias %s is not found.", s.aliasARN(in.AliasName))
	}
	k, err := s.aliasTarget(in.TargetKeyID)
	if err != nil {
		return nil, err
	}
	a.KeyID, a.Updated = k.ID, time.Now()
	s.persistAlias(a)
	return struct{}{}, nil
}

func (s *Service) deleteAlias(_ context.Context, in *aliasNameInput) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.aliases[in.AliasName]; !ok {
		return nil, kmsError("NotFoundException", "Alias %s is not found.", s.aliasARN(in.AliasName))
	}
	delete(s.aliases, in.AliasName)
	if err := s.db.delete(bucketAliases, in.AliasName); err != nil {
		return nil, err
	}
	return struct{}{}, nil
}

type aliasListEntry struct {
	AliasName       string        `json:"AliasName"`
	AliasArn        string        `json:"AliasArn"`
	TargetKeyID     string        `json:"TargetKeyId"`
	CreationDate    *awsjson.Time `json:"CreationDate,omitempty"`
	LastUpdatedDate *awsjson.Time `json:"LastUpdatedDate,omitempty"`
}

func (s *Service) listAliases(_ context.Context, in *listInput) (any, error) {
	if in.Limit == 0 {
		in.Limit = defaultListLimit
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keyID := ""
	if in.KeyID != "" {
		k, err := s.resolveKey(in.KeyID, keyIDOrARN)
		if err != nil {
			return nil, err
		}
		keyID = k.ID
	}
	var matched []*alias
	for _, a := range sortedBySeq(s.aliases, func(a *alias) uint64 { return a.Seq }) {
		if keyID == "" || a.KeyID == keyID {
			matched = append(matched, a)
		}
	}
	items, next, err := page(s.markers, "aliases:"+keyID, matched, func(a *alias) uint64 { return a.Seq }, in.Marker, in.Limit)
	if err != nil {
		return nil, err
	}
	out := make([]aliasListEntry, 0, len(items))
	for _, a := range items {
		out = append(out, aliasListEntry{AliasName: a.Name, AliasArn: s.aliasARN(a.Name), TargetKeyID: a.KeyID,
			CreationDate: awsjson.NewTime(a.Created), LastUpdatedDate: awsjson.NewTime(a.Updated)})
	}
	return listOutput("Aliases", out, next), nil
}
