package track_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestImportSeals: the vehicle import's optional seal columns record a
// seal with its time and reason; importing the same file again records
// nothing; a bad value names its line.
func TestImportSeals(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	st := track.NewStore(s.Pool)
	const file = `plate,plate_color,terminal_phone,unit,category,sealed,sealed_at,seal_reason
鄂B00001,1,13800000001,湖北省/黄石市,general,是,2026-11-10 08:00,待拍卖
鄂B00002,1,13800000002,湖北省/黄石市,general,,,
`
	for range 2 {
		vs, err := track.ParseVehicleCSV(strings.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ImportVehicles(ctx, vs); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := st.ListVehicles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	es, err := track.SealEntries(ctx, s.Pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 10, 8, 0, 0, 0, track.Beijing)
	if len(es) != 1 || es[0].VehicleID != vs[0].ID || !es[0].Sealed || !es[0].At.Equal(want) || es[0].Reason != "待拍卖" {
		t.Fatalf("seal entries after importing twice: %+v", es)
	}
	if !vs[0].Sealed || vs[1].Sealed {
		t.Errorf("sealed now: %v %v, want true false", vs[0].Sealed, vs[1].Sealed)
	}
	_, err = track.ParseVehicleCSV(strings.NewReader(`plate,plate_color,terminal_phone,unit,category,sealed,sealed_at,seal_reason
鄂B00003,1,,湖北省/黄石市,general,maybe,,
鄂B00004,1,,湖北省/黄石市,general,true,yesterday,
鄂B00005,1,,湖北省/黄石市,general,,,why
`))
	for _, w := range []string{`line 2: sealed "maybe"`, `line 3: sealed_at "yesterday"`, "line 4: sealed_at and seal_reason need sealed"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("bad seal columns: %v, want %q", err, w)
		}
	}
}
