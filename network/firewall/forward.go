package firewall

import (
	"context"
	"fmt"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"

	"github.com/berth-engine/berth/internal/log"
)

func (f *Firewall) forwardTag() string {
	return "berth bridge " + f.cfg.Bridge
}

// findForwardChain returns the foreign filter chain, or nil when it does not
// exist.
func (f *Firewall) findForwardChain(conn *nftables.Conn) (*nftables.Chain, error) {
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables chains: %w", err)
	}
	for _, c := range chains {
		if c.Table.Name == f.cfg.ForwardTable && c.Name == f.cfg.ForwardChain {
			return c, nil
		}
	}
	return nil, nil
}

// EnsureForwardAccept inserts "iifname <bridge> accept" and "oifname <bridge>
// accept" at the top of the foreign filter chain (Docker's "ip filter FORWARD"
// unless configured otherwise) when that chain exists and lacks them. It
// reports whether the chain exists. Call it again whenever the other program
// may have recreated its chain.
func (f *Firewall) EnsureForwardAccept(ctx context.Context) (bool, error) {
	conn, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("add forward accept rules: %w", err)
	}

	chain, err := f.findForwardChain(conn)
	if err != nil || chain == nil {
		return false, err
	}

	rules, err := conn.GetRules(chain.Table, chain)
	if err != nil {
		return true, fmt.Errorf("list rules of chain %s %s: %w", chain.Table.Name, chain.Name, err)
	}
	tag := f.forwardTag()
	tagged := 0
	for _, r := range rules {
		if comment, _ := userdata.GetString(r.UserData, userdata.TypeComment); comment == tag {
			tagged++
		}
	}
	if tagged == 2 {
		return true, nil
	}

	// Replace a partial set, which another program may have left by deleting
	// one rule, with a complete one.
	if tagged > 0 {
		if _, err := deleteTagged(conn, chain, tag); err != nil {
			return true, fmt.Errorf("replace forward accept rules in chain %s %s: %w",
				chain.Table.Name, chain.Name, err)
		}
	}

	udata := userdata.AppendString(nil, userdata.TypeComment, tag)
	accept := []expr.Any{verdict(expr.VerdictAccept)}
	conn.InsertRule(&nftables.Rule{
		Table: chain.Table, Chain: chain, UserData: udata,
		Exprs: concat(matchOIFName(expr.CmpOpEq, f.cfg.Bridge), accept),
	})
	conn.InsertRule(&nftables.Rule{
		Table: chain.Table, Chain: chain, UserData: udata,
		Exprs: concat(matchIIFName(f.cfg.Bridge), accept),
	})
	if err := conn.Flush(); err != nil {
		return true, fmt.Errorf("insert forward accept rules into chain %s %s: %w",
			chain.Table.Name, chain.Name, err)
	}

	log.FromContext(ctx).Info("inserted accept rules for the bridge into a foreign forward chain",
		"bridge", f.cfg.Bridge, "table", chain.Table.Name, "chain", chain.Name)
	return true, nil
}

// RemoveForwardAccept deletes the rules EnsureForwardAccept inserted. A
// missing chain or rule is not an error.
func (f *Firewall) RemoveForwardAccept(ctx context.Context) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("remove forward accept rules: %w", err)
	}

	chain, err := f.findForwardChain(conn)
	if err != nil || chain == nil {
		return err
	}

	n, err := deleteTagged(conn, chain, f.forwardTag())
	if err != nil {
		return fmt.Errorf("remove forward accept rules from chain %s %s: %w",
			chain.Table.Name, chain.Name, err)
	}

	if n > 0 {
		log.FromContext(ctx).Info("removed accept rules for the bridge from a foreign forward chain",
			"bridge", f.cfg.Bridge, "table", chain.Table.Name, "chain", chain.Name)
	}
	return nil
}
