package track_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"fleetmon/track"
	"fleetmon/track/pgtest"
)

// TestAuthenticateConcurrently authenticates many terminals at once, as a
// reconnect storm does, so that they share batches: each gets the answer
// its own code deserves (a right code, a wrong one, a terminal that logged
// out, a phone nobody knows, the same terminal twice with a right and a
// wrong code), and each admitted one its own terminal and vehicle.
func TestAuthenticateConcurrently(t *testing.T) {
	s := pgtest.New(t)
	ctx := context.Background()
	const n = 300
	var csv strings.Builder
	csv.WriteString("plate,plate_color,terminal_phone,unit,category\n")
	for i := range n {
		fmt.Fprintf(&csv, "鄂B%05d,1,1380000%04d,湖北省/黄石市,general\n", i, i)
	}
	vs, err := track.ParseVehicleCSV(strings.NewReader(csv.String()))
	if err != nil {
		t.Fatal(err)
	}
	st := track.NewStore(s.Pool)
	if _, _, err := st.ImportVehicles(ctx, vs); err != nil {
		t.Fatal(err)
	}
	codes := make([]string, n)
	for i := range n {
		res, code, err := st.Register(ctx, track.Registration{Phone: fmt.Sprintf("1380000%04d", i), ProtocolVersion: 2013}, false)
		if err != nil || res != track.RegisterOK {
			t.Fatalf("register %d = %v %v", i, res, err)
		}
		codes[i] = code
	}
	// Terminal 7 logged out (0x0003): its code no longer admits it.
	var id7 int64
	if err := s.Pool.QueryRow(ctx, "SELECT id FROM terminals WHERE phone = '13800000007'").Scan(&id7); err != nil {
		t.Fatal(err)
	}
	if err := st.Deregister(ctx, id7); err != nil {
		t.Fatal(err)
	}
	type attempt struct {
		phone, code string
		want        bool
		imei        string // default "86" + phone
		mayFail     bool   // the database may refuse it: an error, but for it alone
	}
	var attempts []attempt
	for i := range n {
		phone := fmt.Sprintf("1380000%04d", i)
		switch {
		case i == 7:
			attempts = append(attempts, attempt{phone: phone, code: codes[i]})
		case i%10 == 3:
			attempts = append(attempts, attempt{phone: phone, code: codes[i] + "X"})
		case i%10 == 5:
			attempts = append(attempts, attempt{phone: phone, code: codes[i], want: true}, attempt{phone: phone, code: "WRONG"})
		default:
			attempts = append(attempts, attempt{phone: phone, code: codes[i], want: true})
		}
	}
	attempts = append(attempts, attempt{phone: "19999999999", code: codes[0]},
		// Garbage a terminal can send: none of it may refuse the others.
		attempt{phone: "13800000000", code: "A\x00B"},
		attempt{phone: "13800000001", code: "\xff\xfe"},
		attempt{phone: "19999999998", code: "X", imei: "86\x00", mayFail: true})
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, a := range attempts {
		wg.Go(func() {
			<-start
			imei := a.imei
			if imei == "" {
				imei = "86" + a.phone
			}
			term, ok, err := st.Authenticate(ctx, track.Authentication{Phone: a.phone, Code: a.code, ProtocolVersion: 2019, IMEI: imei})
			if err != nil && a.mayFail {
				return
			}
			if err != nil {
				t.Errorf("authenticate %s: %v", a.phone, err)
				return
			}
			if ok != a.want {
				t.Errorf("authenticate %s with %q = %v, want %v", a.phone, a.code, ok, a.want)
				return
			}
			if ok && (term.Phone != a.phone || term.VehicleID == 0 || term.ID == 0 || term.AuthCode != a.code) {
				t.Errorf("authenticate %s = %+v", a.phone, term)
			}
		})
	}
	close(start)
	wg.Wait()
	var stamped int
	if err := s.Pool.QueryRow(ctx, `SELECT count(*) FROM terminals
		WHERE authenticated_at IS NOT NULL AND protocol_version = 2019 AND imei = '86' || phone`).Scan(&stamped); err != nil {
		t.Fatal(err)
	}
	if want := n - 1 - n/10; stamped != want {
		t.Errorf("%d terminals stamped as authenticated, want %d", stamped, want)
	}
}
