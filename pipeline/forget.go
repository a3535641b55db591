package pipeline

import (
	"context"
	"fmt"
	"strings"

	"sparkevents/internal/pseudo"
	"sparkevents/load"
)

// ForgetOptions say whose data Forget erases, and how.
type ForgetOptions struct {
	Tenant  string // "" every tenant
	Address string // the person's e-mail address
	// Pseudonymize replaces the address by its pseudonym under the key of
	// HMACKeyFile instead of erasing the person's data.
	Pseudonymize bool
	// HMACKeyFile is the key loads store pseudonyms under (--hmac-key-file):
	// the person's pseudonymized events are found, and with Pseudonymize
	// renamed, under it.
	HMACKeyFile string
	Reference   string // recorded in the audit row (a ticket number)
	Apply       bool   // without it, only count
}

// Forgotten is what Forget did in one tenant.
type Forgotten = load.Forgotten

// Forget erases one person's data (load.ForgetUser), or with
// Pseudonymize replaces their address by its keyed pseudonym, in one
// transaction with an audit row per tenant.
func (p *Pipeline) Forget(ctx context.Context, o ForgetOptions) ([]Forgotten, error) {
	addr := strings.ToLower(strings.TrimSpace(o.Address))
	if addr == "" {
		return nil, fmt.Errorf("%w: forget needs --user: the person's e-mail address", ErrUsage)
	}
	f := load.Forget{Tenant: o.Tenant, Address: o.Address, Reference: o.Reference, Apply: o.Apply}
	if o.HMACKeyFile != "" {
		key, err := pseudo.ReadKey(o.HMACKeyFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --hmac-key-file: %w", ErrUsage, err)
		}
		f.Names = []string{pseudo.Of(key, addr)}
		if o.Pseudonymize {
			f.Pseudonym = pseudo.Of(key, addr)
			f.IPs = func(ip string) string { return pseudo.Of(key, ip) }
		}
	} else if o.Pseudonymize {
		return nil, fmt.Errorf("%w: --pseudonymize needs --hmac-key-file (SPARKEVENTS_HMAC_KEY_FILE): the pseudonym is the address's HMAC under that key", ErrUsage)
	}
	out, err := load.ForgetUser(ctx, p.db, p.schema, f)
	if err != nil {
		return nil, dbErr(err)
	}
	if o.Apply {
		for _, g := range out {
			// Counts only: the log never names the person either.
			p.log.Warn("forgot a person", "tenant", g.Tenant, "pseudonymized", o.Pseudonymize, "events", g.Events,
				"mentions", g.Mentions, "rollup_rows", g.RollupRows, "rejects", g.Rejects, "runs", g.Runs, "run_id", g.RunID)
		}
	}
	return out, nil
}
