package suites

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
)

// pageResult is one page of any KMS listing.
type pageResult struct {
	ids       []string
	truncated bool
	next      *string
}

// checkPages walks a listing page by page with the given limit and checks
// the invariants every paginated KMS listing keeps: Truncated ⇔ NextMarker,
// no page over the limit, no item twice, and every item of want listed. It
// calls between(page) after each page, to change the world meanwhile.
func checkPages(ctx context.Context, limit int32, list func(marker *string) (pageResult, error), want []string, between func(int)) {
	seen := map[string]int{}
	var marker *string
	for pageNo := 0; ; pageNo++ {
		p, err := list(marker)
		gomega.Expect(err).NotTo(gomega.HaveOccurred())
		gomega.Expect(len(p.ids)).To(gomega.BeNumerically("<=", limit), "page %d is over the limit", pageNo)
		gomega.Expect(p.truncated).To(gomega.Equal(p.next != nil), "Truncated ⇔ NextMarker on page %d", pageNo)
		for _, id := range p.ids {
			seen[id]++
			gomega.Expect(seen[id]).To(gomega.Equal(1), "%s listed twice", id)
		}
		if !p.truncated {
			break
		}
		if between != nil {
			between(pageNo)
		}
		marker = p.next
	}
	for _, id := range want {
		gomega.Expect(seen).To(gomega.HaveKey(id))
	}
}

// keysAddedWhilePaging is how many keys the ListKeys spec adds while it
// walks the pages.
const keysAddedWhilePaging = 3

func paginationSpecs(s *suite) {
	ginkgo.Describe("pagination", func() {
		ruleIt("CKS-LISTKEYS-001", ginkgo.Label("api:ListKeys"), func(ctx ginkgo.SpecContext) {
			client := s.client(true)
			var want []string
			for range 5 {
				want = append(want, aws.ToString(newKMSKey(ctx, s).KeyId))
			}
			list := func(marker *string) (pageResult, error) {
				out, err := client.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(2), Marker: marker})
				if err != nil {
					return pageResult{}, err
				}
				p := pageResult{truncated: out.Truncated, next: out.NextMarker}
				for _, k := range out.Keys {
					p.ids = append(p.ids, aws.ToString(k.KeyId))
				}
				return p, nil
			}
			// A key added after each of the first pages: not after every page,
			// or a run would add half as many keys as the account holds (and
			// the keys of earlier runs stay pending deletion for 7 days).
			checkPages(ctx, 2, list, want, func(page int) {
				if page < keysAddedWhilePaging {
					newKMSKey(ctx, s)
				}
			})

			_, err := client.ListKeys(ctx, &kms.ListKeysInput{Marker: aws.String("forged-marker-value")})
			gomega.Expect(err).To(failWith("InvalidMarkerException"))
			_, err = client.ListKeys(ctx, &kms.ListKeysInput{Limit: aws.Int32(0)})
			gomega.Expect(err).To(failWith("ValidationException"))
		})

		ruleIt("CKS-DESCRIBE-002", ginkgo.Label("api:DescribeCustomKeyStores"), func(ctx ginkgo.SpecContext) {
			client := s.client(true)
			// The shared store, and up to two more where clusters allow: the
			// account's other stores fill the pages as well.
			want := []string{useShared(ctx, s).ID}
			for range 2 {
				cl, err := s.takeCluster(ctx, clusterKept)
				if errors.Is(err, ErrNoCluster) {
					break
				}
				gomega.Expect(err).NotTo(gomega.HaveOccurred(), "making a cluster")
				want = append(want, makeStore(ctx, s, cl, false).ID)
			}
			if n := countStores(ctx, s); n < 2 {
				inconclusive(fmt.Sprintf("pages of one store show nothing: the account has %d store and no cluster is free for another", n))
			}
			list := func(marker *string) (pageResult, error) {
				out, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{Limit: aws.Int32(1), Marker: marker})
				if err != nil {
					return pageResult{}, err
				}
				p := pageResult{truncated: out.Truncated, next: out.NextMarker}
				for _, s := range out.CustomKeyStores {
					p.ids = append(p.ids, aws.ToString(s.CustomKeyStoreId))
				}
				return p, nil
			}
			checkPages(ctx, 1, list, want, nil)
			_, err := client.DescribeCustomKeyStores(ctx, &kms.DescribeCustomKeyStoresInput{Marker: aws.String("forged-marker-value")})
			gomega.Expect(err).To(failWith("InvalidMarkerException"))
		})

		ruleIt("CKS-LISTALIASES-001", ginkgo.Label("api:ListAliases"), func(ctx ginkgo.SpecContext) {
			client := s.client(true)
			k := newKMSKey(ctx, s)
			var want []string
			for range 4 {
				name := "alias/" + uniqueName("page")
				_, err := client.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(name), TargetKeyId: k.KeyId})
				gomega.Expect(err).NotTo(gomega.HaveOccurred())
				ginkgo.DeferCleanup(func(ctx ginkgo.SpecContext) {
					_, _ = client.DeleteAlias(ctx, &kms.DeleteAliasInput{AliasName: aws.String(name)})
				})
				want = append(want, name)
			}
			list := func(marker *string) (pageResult, error) {
				out, err := client.ListAliases(ctx, &kms.ListAliasesInput{KeyId: k.KeyId, Limit: aws.Int32(3), Marker: marker})
				if err != nil {
					return pageResult{}, err
				}
				p := pageResult{truncated: out.Truncated, next: out.NextMarker}
				for _, a := range out.Aliases {
					p.ids = append(p.ids, aws.ToString(a.AliasName))
				}
				return p, nil
			}
			checkPages(ctx, 3, list, want, nil)
		})
	})
}
