package host

import "github.com/ppcmesh/mesh/host/audit"

// openAudit opens the audit log of control changes: the node's log, and
// the file of Config.AuditLog when set. A file that cannot be opened stops
// the node from starting: its changes would go unrecorded there.
func (h *Host) openAudit() (err error) {
	h.audit, err = audit.Open(h.log, h.cfg.AuditLog)
	return err
}

// closeAudit closes the audit file, once the servers are stopped.
func (h *Host) closeAudit() {
	if h.audit != nil {
		_ = h.audit.Close()
		h.audit = nil
	}
}
