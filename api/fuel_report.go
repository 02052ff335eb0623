package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/xuri/excelize/v2"
)

// The monthly reconciliation (月度对账): per card, what was filled (fills,
// litres, yuan), what the car it was bound to drove that month (the
// per-day figures of vehicle_days), the consumption that makes against
// the vehicle's norm, and the leads found and confirmed; the same summed
// per unit. Fills on cards bound to no vehicle are counted apart, for
// those who see every unit.

// cardReportJSON is one card's month.
type cardReportJSON struct {
	Card       string         `json:"card"`
	VehicleID  int64          `json:"vehicle_id"`
	Plate      string         `json:"plate"`
	UnitID     int64          `json:"unit_id"`
	Unit       string         `json:"unit"`
	Fills      int            `json:"fills"`
	Litres     float64        `json:"litres"`
	Amount     float64        `json:"amount"`
	Km         float64        `json:"km"`
	L100km     *float64       `json:"l_100km"`
	NormL100km float64        `json:"norm_l_100km,omitempty"`
	Leads      int            `json:"leads"`
	Confirmed  int            `json:"confirmed"`
	ByKind     map[string]int `json:"leads_by_kind"`
}

// unitReportJSON is one unit's month.
type unitReportJSON struct {
	UnitID    int64   `json:"unit_id"`
	Unit      string  `json:"unit"`
	Cards     int     `json:"cards"`
	Fills     int     `json:"fills"`
	Litres    float64 `json:"litres"`
	Amount    float64 `json:"amount"`
	Km        float64 `json:"km"`
	Leads     int     `json:"leads"`
	Confirmed int     `json:"confirmed"`
}

// fuelReportJSON is the month's reconciliation.
type fuelReportJSON struct {
	Month   string           `json:"month"`
	Cards   []cardReportJSON `json:"cards"`
	Units   []unitReportJSON `json:"units"`
	Unbound *struct {
		Fills  int     `json:"fills"`
		Litres float64 `json:"litres"`
		Amount float64 `json:"amount"`
	} `json:"unbound,omitempty"`
}

// reconcile builds the report of [from, to) for the caller's jurisdiction
// (Root 0: every unit, and the unbound fills).
func (s *Server) reconcile(ctx context.Context, q leadQuery, month string) (fuelReportJSON, error) {
	rep := fuelReportJSON{Month: month, Cards: []cardReportJSON{}, Units: []unitReportJSON{}}
	byKey := map[string]*cardReportJSON{}
	var vids []int64
	err := s.queryEach(ctx, `SELECT f.card_no, c.vehicle_id, v.plate, v.unit_id, unit_path(v.unit_id), count(*), sum(f.litres)::float8,
			sum(f.amount)::float8, COALESCE(sp.norm_l_100km, 0)
		FROM fuel_fills f
		JOIN fuel_cards c ON c.card_no = f.card_no AND c.valid_from <= f.filled_at AND (c.valid_to IS NULL OR f.filled_at < c.valid_to)
		JOIN vehicles v ON v.id = c.vehicle_id
		LEFT JOIN fuel_vehicle_specs sp ON sp.vehicle_id = v.id
		WHERE v.unit_id IN (SELECT unit_subtree($1)) AND f.filled_at >= $2 AND f.filled_at < $3
		GROUP BY 1, 2, 3, 4, 5, 9 ORDER BY 5, 3, 1`, []any{q.scope.SQLArg(), q.from, q.to}, func(row pgx.CollectableRow) error {
		var c cardReportJSON
		err := row.Scan(&c.Card, &c.VehicleID, &c.Plate, &c.UnitID, &c.Unit, &c.Fills, &c.Litres, &c.Amount, &c.NormL100km)
		c.ByKind = map[string]int{}
		rep.Cards = append(rep.Cards, c)
		vids = append(vids, c.VehicleID)
		return err
	})
	if err != nil {
		return rep, fmt.Errorf("fuel report cards: %w", err)
	}
	for i := range rep.Cards {
		c := &rep.Cards[i]
		byKey[fmt.Sprintf("%s/%d", c.Card, c.VehicleID)] = c
	}
	km := map[int64]float64{}
	err = s.queryEach(ctx, `SELECT vehicle_id, sum(distance_m) / 1000 FROM vehicle_days
		WHERE vehicle_id = ANY($1) AND day >= $2::date AND day < $3::date GROUP BY 1`,
		[]any{vids, q.from.In(cst).Format(time.DateOnly), q.to.In(cst).Format(time.DateOnly)}, func(row pgx.CollectableRow) error {
			var id int64
			var k float64
			err := row.Scan(&id, &k)
			km[id] = k
			return err
		})
	if err != nil {
		return rep, fmt.Errorf("fuel report distances: %w", err)
	}
	ls, _, err := s.leads(ctx, q, false)
	if err != nil {
		return rep, err
	}
	for _, l := range ls {
		if c := byKey[fmt.Sprintf("%s/%d", l.Card, l.VehicleID)]; c != nil {
			c.Leads++
			c.ByKind[l.Kind]++
			if l.Verification == "confirmed" {
				c.Confirmed++
			}
		}
	}
	units := map[int64]*unitReportJSON{}
	for i := range rep.Cards {
		c := &rep.Cards[i]
		c.Km = math.Round(km[c.VehicleID]*10) / 10
		if c.Km > 0 {
			v := math.Round(c.Litres/c.Km*1000) / 10
			c.L100km = &v
		}
		u := units[c.UnitID]
		if u == nil {
			u = &unitReportJSON{UnitID: c.UnitID, Unit: c.Unit}
			units[c.UnitID] = u
		}
		u.Cards++
		u.Fills += c.Fills
		u.Litres += c.Litres
		u.Amount += c.Amount
		u.Km += c.Km
		u.Leads += c.Leads
		u.Confirmed += c.Confirmed
	}
	for _, u := range units {
		rep.Units = append(rep.Units, *u)
	}
	sort.Slice(rep.Units, func(i, j int) bool { return rep.Units[i].Unit < rep.Units[j].Unit })
	if q.scope.Root == 0 {
		rep.Unbound = &struct {
			Fills  int     `json:"fills"`
			Litres float64 `json:"litres"`
			Amount float64 `json:"amount"`
		}{}
		err = s.pool.QueryRow(ctx, `SELECT count(*), COALESCE(sum(litres), 0)::float8, COALESCE(sum(amount), 0)::float8 FROM fuel_fills f
			WHERE f.filled_at >= $1 AND f.filled_at < $2 AND NOT EXISTS (SELECT 1 FROM fuel_cards c WHERE c.card_no = f.card_no
				AND c.valid_from <= f.filled_at AND (c.valid_to IS NULL OR f.filled_at < c.valid_to))`, q.from, q.to).
			Scan(&rep.Unbound.Fills, &rep.Unbound.Litres, &rep.Unbound.Amount)
		if err != nil {
			return rep, fmt.Errorf("fuel report unbound fills: %w", err)
		}
	}
	return rep, nil
}

// fuelReport serves GET /api/v1/fuel/report?month=YYYY-MM (&unit=,
// &format=json|xlsx).
func (s *Server) fuelReport(w http.ResponseWriter, r *http.Request) {
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "xlsx" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "format: want json or xlsx")
		return
	}
	month := r.URL.Query().Get("month")
	q, ok := s.leadQueryOf(w, r)
	if !ok {
		return
	}
	if month == "" {
		writeError(w, r, http.StatusBadRequest, "bad_request", "month: want YYYY-MM")
		return
	}
	rep, err := s.reconcile(r.Context(), q, month)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if format != "xlsx" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	if err := s.auditFirst(r, Entry{Action: "fuel.report_export", SubjectUnitID: q.scope.Root, From: q.from, To: q.to,
		Detail: map[string]any{"month": month, "cards": len(rep.Cards)}}); err != nil {
		s.fail(w, r, err)
		return
	}
	book, err := fuelWorkbook(rep, wantsChinese(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	defer book.Close()
	w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="fuel-%s.xlsx"`, month))
	if err := book.Write(w); err != nil {
		s.log.Warn("fuel report: write xlsx", "request_id", requestID(r), "err", err)
	}
}

// fuelWorkbook lays the report out on two sheets, per card and per unit;
// every text cell goes through csvCell.
func fuelWorkbook(rep fuelReportJSON, zh bool) (*excelize.File, error) {
	pick := func(z, e string) string {
		if zh {
			return z
		}
		return e
	}
	t := csvCell
	book := excelize.NewFile()
	cards := [][]any{{pick("卡号", "Card"), pick("车牌", "Plate"), pick("单位", "Unit"), pick("加油次数", "Fills"), pick("升数", "Litres"),
		pick("金额(元)", "Amount (yuan)"), pick("行驶里程(km)", "Distance (km)"), pick("百公里油耗(L)", "L/100 km"),
		pick("定额(L/100km)", "Norm (L/100 km)"), pick("线索", "Leads"), pick("已认定", "Confirmed")}}
	for _, c := range rep.Cards {
		var per any = ""
		if c.L100km != nil {
			per = *c.L100km
		}
		cards = append(cards, []any{t(c.Card), t(c.Plate), t(c.Unit), c.Fills, c.Litres, c.Amount, c.Km, per, c.NormL100km, c.Leads, c.Confirmed})
	}
	units := [][]any{{pick("单位", "Unit"), pick("卡数", "Cards"), pick("加油次数", "Fills"), pick("升数", "Litres"),
		pick("金额(元)", "Amount (yuan)"), pick("行驶里程(km)", "Distance (km)"), pick("线索", "Leads"), pick("已认定", "Confirmed")}}
	for _, u := range rep.Units {
		units = append(units, []any{t(u.Unit), u.Cards, u.Fills, u.Litres, u.Amount, u.Km, u.Leads, u.Confirmed})
	}
	first := pick("按卡", "By card")
	if err := book.SetSheetName("Sheet1", first); err != nil {
		return nil, fmt.Errorf("fuel report: %w", err)
	}
	if _, err := book.NewSheet(pick("按单位", "By unit")); err != nil {
		return nil, fmt.Errorf("fuel report: %w", err)
	}
	for sheet, rows := range map[string][][]any{first: cards, pick("按单位", "By unit"): units} {
		for i, row := range rows {
			cell, _ := excelize.CoordinatesToCellName(1, i+1)
			if err := book.SetSheetRow(sheet, cell, &row); err != nil {
				return nil, fmt.Errorf("fuel report: %s row %d: %w", sheet, i+1, err)
			}
		}
	}
	return book, nil
}
