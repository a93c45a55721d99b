package kms

// check asks the state machine whether op may happen to the store now,
// without changing it: what an operation does before it waits on the
// cluster, and what a read (a key's usability) asks; s.mu is held. It
// returns the AWS error of a refusal or of a deleted store.
func (s *Service) check(st *keyStore, op operation) (verdict, error) {
	t := decide(st.State, op, succeeded)
	return t.verdict, s.refusal(st, op, t.verdict)
}

// change asks the state machine about op on the store now, at the moment
// the operation changes the store, and carries out its answer: the store
// moves to the next state (persisted; a deleted store is removed), or the
// AWS error of a refusal or of a deleted store is returned; s.mu is held.
// code is the ConnectionErrorCode of a connect that ended FAILED.
func (s *Service) change(st *keyStore, op operation, out outcome, code string) (verdict, error) {
	t := decide(st.State, op, out)
	if t.verdict != proceed {
		return t.verdict, s.refusal(st, op, t.verdict)
	}
	if t.next == st.State {
		return proceed, nil
	}
	st.State, st.ErrorCode = t.next, ""
	if t.next == StateFailed {
		st.ErrorCode = code
	}
	st.epoch++
	if t.next == StateDeleted {
		delete(s.stores, st.ID)
		s.endHolds(st.ID)
		if err := s.db.delete(bucketStores, st.ID); err != nil {
			return proceed, err
		}
		s.log.Info("custom key store deleted", "store", st.ID)
		return proceed, nil
	}
	s.persistStore(st)
	return proceed, nil
}

// refusal is the AWS error for a verdict that stops an operation (nil for
// the others).
func (s *Service) refusal(st *keyStore, op operation, v verdict) error {
	switch v {
	case gone:
		return storeNotFound(st.ID)
	case refused:
	default:
		return nil
	}
	switch op {
	case opConnect:
		if st.State == StateFailed {
			return storeInvalidState("Custom key store %s is FAILED; disconnect it before connecting again.", st.ID)
		}
		return storeInvalidState("Custom key store %s is %s.", st.ID, st.State)
	case opDisconnect:
		return storeInvalidState("Custom key store %s is already %s.", st.ID, st.State)
	case opRename:
		return storeInvalidState("Custom key store %s cannot be updated while %s.", st.ID, st.State)
	case opUpdateConnection:
		return storeInvalidState("Custom key store %s must be DISCONNECTED to change its password or cluster; it is %s.", st.ID, st.State)
	case opDelete:
		return storeInvalidState("Custom key store %s must be DISCONNECTED to be deleted; it is %s.", st.ID, st.State)
	default:
		return storeInvalidState("Custom key store %s is %s; it must be CONNECTED.", st.ID, st.State)
	}
}

// usable reports whether work in the store's cluster may happen now: its
// keys are usable and it keeps HSM sessions; s.mu is held.
func (st *keyStore) usable() bool {
	return decide(st.State, opUseHSMs, succeeded).verdict == proceed
}

// awaits reports whether the store still waits for the connect begun in
// epoch attempt: the state machine would settle it with that connect's
// end; s.mu is held.
func (st *keyStore) awaits(attempt uint64) bool {
	return st.epoch == attempt && decide(st.State, opConnectEnd, succeeded).verdict == proceed
}
