package linkcodes

import (
	"context"
	"errors"

	"medsync/connectors"
	"medsync/mapping"
)

// Profile statements the service uses (besides patient.by_keys).
const (
	StmtRequests    = "read.link_requests"
	StmtRequestDone = "link_request_done" // write.link_request_done
)

// AfterPoll is called after each poll: it expires codes, notices links the registrars
// report (codes used), cancels codes and links of cards deleted in the MIS, and issues
// codes for patients the MIS flagged. Nothing here stops the poll; problems are logged.
func (s *Service) AfterPoll(ctx context.Context) {
	if err := s.st.expire(ctx, s.now()); err != nil {
		s.log.Error("link codes: state file: expiring codes", "error", err)
	}
	s.checkDeleted(ctx) // first: a deleted card's codes are cancelled, whatever a registrar says
	s.checkLinks(ctx)
	if s.o.Config.Requests {
		s.handleRequests(ctx)
	}
}

// checkLinks asks registrars that can tell (LinkChecker) whether patients holding an
// active code linked; a link uses the code up.
func (s *Service) checkLinks(ctx context.Context) {
	var checkers []connectors.LinkChecker
	for _, r := range s.o.Registrars {
		if lc, ok := r.Conn.(connectors.LinkChecker); ok {
			checkers = append(checkers, lc)
		}
	}
	if len(checkers) == 0 {
		return
	}
	ids, err := s.st.activePatients(ctx)
	if err != nil {
		s.log.Error("link codes: state file: active codes", "error", err)
		return
	}
	for _, id := range ids {
		for _, lc := range checkers {
			linked, err := lc.IsLinked(ctx, id)
			if err != nil {
				s.log.Warn("link state not readable", "patient", id, "error", err)
				continue
			}
			if linked {
				s.markLinked(ctx, id)
				break
			}
		}
	}
}

// MarkLinked records that a patient linked (the active code is used up). Connectors
// that learn links from a feed may call it; checkLinks does for LinkCheckers.
func (s *Service) MarkLinked(ctx context.Context, patientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.markLinked(ctx, patientID)
}

func (s *Service) markLinked(ctx context.Context, patientID string) {
	now := s.now()
	row, err := s.st.active(ctx, patientID)
	if err == nil && row != nil {
		err = s.st.endCode(ctx, row.ID, StateUsed, now)
	}
	if err == nil {
		err = s.st.setLink(ctx, patientID, true, now, "linked")
	}
	if err != nil {
		s.log.Error("link codes: state file: recording a link", "patient", patientID, "error", err)
		return
	}
	s.audit(ctx, "ondoc", "link", patientID, "пациент привязался")
}

// checkDeleted reads the cards of patients with an active code or a link; a card that
// vanished or is flagged deleted cancels the code and unlinks. Registrars that receive
// patient events (ONDOC) unlink deleted cards themselves and are not called again.
func (s *Service) checkDeleted(ctx context.Context) {
	ids, err := s.st.watchedPatients(ctx)
	if err != nil || len(ids) == 0 {
		if err != nil {
			s.log.Error("link codes: state file: watched patients", "error", err)
		}
		return
	}
	present := map[string]bool{}
	err = s.o.Patients.ReadKeys(ctx, mapping.EntityPatient, ids, func(it mapping.Item) error {
		if p, ok := it.Record.(*mapping.Patient); ok && !p.Deleted {
			present[p.ID] = true
		}
		return nil
	}, func(sk mapping.Skip) {
		if sk.Key != "" {
			present[sk.Key] = true // a broken row is not a deleted card
		}
	})
	if err != nil {
		s.log.Warn("link codes: patient cards not readable; deleted cards are checked next poll", "error", err)
		return
	}
	for _, id := range ids {
		if present[id] {
			continue
		}
		s.cardDeleted(ctx, id)
	}
}

func (s *Service) cardDeleted(ctx context.Context, patientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if row, err := s.st.active(ctx, patientID); err == nil && row != nil {
		if err := s.st.endCode(ctx, row.ID, StateCanceled, now); err != nil {
			s.log.Error("link codes: state file: canceling a code", "patient", patientID, "error", err)
			return
		}
	}
	for _, r := range s.o.Registrars {
		if r.TakesPatients {
			continue // it receives the patient's delete event and unlinks itself
		}
		if err := r.Conn.Unlink(ctx, patientID); err != nil {
			s.log.Warn("unlink of a deleted card failed; retried next poll", "patient", patientID, "connector", r.Name, "error", err)
			return
		}
	}
	if err := s.st.setLink(ctx, patientID, false, now, "card_deleted"); err != nil {
		s.log.Error("link codes: state file: recording an unlink", "patient", patientID, "error", err)
		return
	}
	s.audit(ctx, "mis", "unlink", patientID, "карта удалена в МИС")
}

// handleRequests issues codes for patients the MIS flagged (read.link_requests). With
// write.link_request_done the flag is cleared in the MIS; read-only profiles remember
// the request instead, until the MIS clears the flag itself.
func (s *Service) handleRequests(ctx context.Context) {
	if !s.o.Patients.HasStatement(StmtRequests) {
		return
	}
	var ids []string
	err := s.o.Patients.QueryNamed(ctx, StmtRequests, nil, func(row map[string]string) error {
		if id := row["id"]; id != "" {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("link requests not readable from the MIS", "statement", StmtRequests, "error", err)
		return
	}
	flagged := map[string]bool{}
	canClear := s.o.MIS != nil && s.o.MIS.Has(StmtRequestDone)
	for _, id := range ids {
		flagged[id] = true
		done, err := s.st.requestDone(ctx, id)
		if err != nil {
			s.log.Error("link codes: state file: requests", "error", err)
			return
		}
		if done {
			if canClear {
				s.clearFlag(ctx, id)
			}
			continue
		}
		_, err = s.Issue(ctx, id, ActorMIS)
		var refusal *Error
		if err != nil && (!errors.As(err, &refusal) || !refusal.Card) {
			continue // not the card's fault (ONDOC, limits, MIS, state file): try again next poll
		}
		// Issued, or refused for a reason the MIS card must fix: do not retry every poll.
		if err := s.st.markRequest(ctx, id, s.now()); err != nil {
			s.log.Error("link codes: state file: requests", "error", err)
		}
		if canClear {
			s.clearFlag(ctx, id)
		}
	}
	if err := s.st.forgetRequests(ctx, flagged); err != nil {
		s.log.Error("link codes: state file: requests", "error", err)
	}
}

func (s *Service) clearFlag(ctx context.Context, id string) {
	err := s.o.MIS.Tx(ctx, func(tx connectors.MISTx) error {
		_, err := tx.Exec(ctx, StmtRequestDone, map[string]any{"patient_id": misKey(id)})
		return err
	})
	if err != nil {
		s.log.Warn("link request flag not cleared in the MIS; retried next poll", "patient", id, "error", err)
	}
}
