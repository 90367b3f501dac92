package api

import (
	"crypto/subtle"
	"fmt"
	"net/netip"
	"strings"

	"github.com/ppcmesh/mesh/host/network"
	"github.com/ppcmesh/mesh/host/ptp"
)

// Admission is the rule that admits containers: callers without a partner
// certificate reach the container API only from an allowed network or with
// the container token. Nothing is admitted merely for lacking a certificate.
type Admission struct {
	Nets  []netip.Prefix // networks containers call from; loopback by default
	Token string         // admits a caller from anywhere when presented as a bearer token
}

// ParseNets reads the container networks: CIDRs or single addresses, or
// the word "none" alone for no network (containers then need the token).
func ParseNets(list []string) ([]netip.Prefix, error) {
	if len(list) == 1 && strings.EqualFold(strings.TrimSpace(list[0]), "none") {
		return []netip.Prefix{}, nil
	}
	nets, err := network.ParseNets(list)
	if err != nil {
		return nil, fmt.Errorf("container networks: %w", err)
	}
	return nets, nil
}

// admit says whether a caller on c that is not a partner may act as a
// container; bearer is the token it presented, if any. In-process calls
// (no connection) are the node's own.
func (a Admission) admit(c *network.Conn, bearer string) error {
	if c == nil {
		return nil
	}
	if a.Token != "" && bearer != "" && subtle.ConstantTimeCompare([]byte(bearer), []byte(a.Token)) == 1 {
		return nil
	}
	if ip, err := netip.ParseAddr(c.RemoteIP()); err == nil {
		ip = ip.Unmap()
		for _, p := range a.Nets {
			if p.Contains(ip) {
				return nil
			}
		}
	}
	return ptp.Errorf(ptp.Unauthorized, "caller %s is not admitted as a container: containers are admitted from %s, or anywhere with the container token "+
		"(mesh start --container-nets CIDR,… or MESH_CONTAINER_TOKEN, sent as Authorization: Bearer TOKEN); partner nodes must present their certificate",
		c.RemoteIP(), network.DescribeNets(a.Nets))
}

// bearer is the token of an Authorization: Bearer header value.
func bearer(authorization string) string {
	tok, ok := strings.CutPrefix(authorization, "Bearer ")
	if !ok {
		return ""
	}
	return strings.TrimSpace(tok)
}
