package api

import (
	"context"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"

	"fleetmon/alerts"
	"fleetmon/track"
)

// Reads picks, for one history request, the pool its reads of history
// run on: a standby within the staleness bound, or the primary (see
// Config.Reads). It is asked once per request, so that a request reads
// one server throughout.
type Reads func(ctx context.Context) *pgxpool.Pool

// historyStores are the stores a history request reads positions,
// episodes, fences and approvals through.
type historyStores struct {
	track  *track.Store
	alerts *alerts.Store
}

type historyKey struct{}

// onHistory marks h as a history request (replay, evidence export, area
// search, reports): with Config.Reads its reads of history go to the pool
// Reads picks. Everything else it does stays on the primary: the audit
// entry of the view is committed there (auditFirst) before anything of it
// is sent, whatever server the rows came from, and the scope
// checks (which vehicles and units the user may see) read the primary, so
// that a vehicle moved out of a unit a moment ago is not shown from a
// standby that has not heard of the move.
func (s *Server) onHistory(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.Reads == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		pool := s.cfg.Reads(r.Context())
		if pool == nil || pool == s.pool {
			h(w, r)
			return
		}
		st := track.NewStore(pool)
		st.SetSealPublicKey(s.store.SealPublicKey())
		ctx := context.WithValue(r.Context(), historyKey{}, historyStores{track: st, alerts: alerts.NewStore(pool)})
		h(w, r.WithContext(ctx))
	}
}

// history returns the stores that ctx's request reads history through:
// a standby's when onHistory chose one, else the primary's.
func (s *Server) history(ctx context.Context) historyStores {
	if hs, ok := ctx.Value(historyKey{}).(historyStores); ok {
		return hs
	}
	return historyStores{track: s.store, alerts: s.alerts}
}
