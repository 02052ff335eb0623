package track

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Signed day records. The seals of one table chain its days together, but
// a chain kept in the database can be rebuilt by whoever can delete it: the
// rows altered, the seals deleted, the job run again, and every link
// matches. So once every table's day is sealed, the day gets a record in
// seal_days whose digest is
//
//	SHA-256("fleetmon seal day v1" 0x00 ‖ previous day's digest (32 zero
//	        bytes for the first) ‖ "YYYY-MM-DD" ‖ for each of SealKinds in
//	        order: kind 0x00 ‖ the kind's chain link that day (32 zero bytes
//	        when it has no seal that day))
//
// which commits to every earlier day of every table, and which is signed
// with Ed25519 over the text message sealMessage builds. The key is a file
// outside the database and outside the data directory (fleetd serve
// --seal-key); its public half and the daily digests are what an operator
// keeps offline, and every export's manifest carries them. A day rebuilt
// later has another digest than the one kept (and, without the key,
// no valid signature).

// CreateSealKey writes a new Ed25519 key to path (PKCS #8 PEM, mode 0600,
// never over an existing file) and its public half to path.pub (PKIX
// PEM), and returns the public key.
func CreateSealKey(path string) (ed25519.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate seal key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode seal key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode seal public key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create seal key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("write seal key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write seal key %s: %w", path, err)
	}
	if err := os.WriteFile(path+".pub", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return nil, fmt.Errorf("write seal public key: %w", err)
	}
	return pub, nil
}

// LoadSealKey reads the Ed25519 private key CreateSealKey wrote.
func LoadSealKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read seal key: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("seal key %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("seal key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("seal key %s: a %T, not an Ed25519 key", path, k)
	}
	return priv, nil
}

// ParseSealPublicKey reads a seal public key given as 64 hex digits (as
// fleetd prints it and manifests carry it), or as a file: the .pub that
// CreateSealKey wrote, or the private key itself.
func ParseSealPublicKey(s string) (ed25519.PublicKey, error) {
	if b, err := hex.DecodeString(strings.TrimSpace(s)); err == nil && len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("seal public key %q: neither 64 hex digits nor a readable file: %w", s, err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("seal public key %s: not PEM", s)
	}
	if blk.Type == "PRIVATE KEY" {
		priv, err := LoadSealKey(s)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("seal public key %s: %w", s, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("seal public key %s: a %T, not an Ed25519 key", s, k)
	}
	return pub, nil
}

// SetSealKey makes SealDays sign each day with key. Without one, days are
// sealed unsigned. Call it before the store is used.
func (s *Store) SetSealKey(key ed25519.PrivateKey) {
	s.sealKey = key
	if key != nil {
		s.sealPub = key.Public().(ed25519.PublicKey)
	}
}

// SetSealPublicKey makes verification expect seals signed by pub (the key
// an operator keeps offline), for a store that does not seal.
func (s *Store) SetSealPublicKey(pub ed25519.PublicKey) { s.sealPub = pub }

// SealPublicKey is the key the store signs with or expects, or nil.
func (s *Store) SealPublicKey() ed25519.PublicKey { return s.sealPub }

// dayRecordDigest computes a day's digest from the previous one and the
// day's chain links by kind.
func dayRecordDigest(prev []byte, day string, chains map[string][]byte) []byte {
	h := sha256.New()
	h.Write([]byte("fleetmon seal day v1\x00"))
	h.Write(prev)
	h.Write([]byte(day))
	zero := make([]byte, sha256.Size)
	for _, k := range SealKinds {
		h.Write([]byte(k))
		h.Write([]byte{0})
		if c, ok := chains[k]; ok {
			h.Write(c)
		} else {
			h.Write(zero)
		}
	}
	return h.Sum(nil)
}

// sealMessage is what a day's signature signs: text, so that it can be
// checked with other tools than fleetd.
func sealMessage(day string, digest []byte, sealedAt time.Time) []byte {
	return []byte("fleetmon seal v1\nday " + day + "\ndigest " + hex.EncodeToString(digest) +
		"\nsealed_at " + sealedAt.UTC().Format(time.RFC3339Nano) + "\n")
}

// SealDay is one day's signed record.
type SealDay struct {
	Day       string // YYYY-MM-DD, Asia/Shanghai
	Digest    []byte
	Prev      []byte
	SealedAt  time.Time
	PublicKey []byte // nil: sealed without a key
	Signature []byte
}

// SealDayRecords returns the day records from from to to (inclusive), in
// order: the digests an operator keeps offline.
func (s *Store) SealDayRecords(ctx context.Context, from, to time.Time) ([]SealDay, error) {
	rows, err := s.pool.Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), digest, prev, sealed_at, public_key, signature
		FROM seal_days WHERE day >= $1 AND day <= $2 ORDER BY day`, from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read seal days: %w", err)
	}
	var out []SealDay
	var d SealDay
	if _, err := pgx.ForEachRow(rows, []any{&d.Day, &d.Digest, &d.Prev, &d.SealedAt, &d.PublicKey, &d.Signature}, func() error {
		out = append(out, d)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("read seal days: %w", err)
	}
	return out, nil
}

// dayChains returns the chain link of each kind sealed on day.
func (s *Store) dayChains(ctx context.Context, day string) (map[string][]byte, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, chain FROM seals WHERE day = $1`, day)
	if err != nil {
		return nil, fmt.Errorf("read seals of %s: %w", day, err)
	}
	chains := map[string][]byte{}
	var k string
	var c []byte
	if _, err := pgx.ForEachRow(rows, []any{&k, &c}, func() error { chains[k] = c; return nil }); err != nil {
		return nil, fmt.Errorf("read seals of %s: %w", day, err)
	}
	return chains, nil
}

// sealDayRecords makes the record of every day that every kind with seals
// has sealed, in order, signed when the store has a key. It returns the
// days recorded, true for those signed.
func (s *Store) sealDayRecords(ctx context.Context, now time.Time) (map[string]bool, error) {
	var bound, first *string
	if err := s.pool.QueryRow(ctx, `SELECT to_char(min(last), 'YYYY-MM-DD'), to_char(min(first), 'YYYY-MM-DD')
		FROM (SELECT max(day) AS last, min(day) AS first FROM seals GROUP BY kind) k`).Scan(&bound, &first); err != nil {
		return nil, fmt.Errorf("seal days: %w", err)
	}
	if bound == nil {
		return nil, nil
	}
	var last *string
	prev := make([]byte, sha256.Size)
	err := s.pool.QueryRow(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), digest FROM seal_days ORDER BY day DESC LIMIT 1`).Scan(&last, &prev)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("seal days: %w", err)
	}
	next, _ := time.Parse(time.DateOnly, *first)
	if last != nil {
		l, _ := time.Parse(time.DateOnly, *last)
		next = l.AddDate(0, 0, 1)
	}
	end, _ := time.Parse(time.DateOnly, *bound)
	made := map[string]bool{}
	for ; !next.After(end); next = next.AddDate(0, 0, 1) {
		day := next.Format(time.DateOnly)
		chains, err := s.dayChains(ctx, day)
		if err != nil {
			return made, err
		}
		digest := dayRecordDigest(prev, day, chains)
		at := now.UTC().Truncate(time.Microsecond)
		var pub, sig []byte
		if s.sealKey != nil {
			pub, sig = s.sealPub, ed25519.Sign(s.sealKey, sealMessage(day, digest, at))
		}
		if _, err := s.pool.Exec(ctx, `INSERT INTO seal_days (day, digest, prev, sealed_at, public_key, signature)
			VALUES ($1, $2, $3, $4, $5, $6)`, day, digest, prev, at, pub, sig); err != nil {
			return made, fmt.Errorf("store the seal of %s: %w", day, err)
		}
		made[day] = sig != nil
		prev = digest
	}
	return made, nil
}

// SealCheck is what an operator kept offline, to check the day records
// against: the public key that signs them and the digests of some days.
type SealCheck struct {
	PublicKey ed25519.PublicKey
	// Expected maps a day (YYYY-MM-DD) to its digest as kept.
	Expected map[string][]byte
}

// lateSeal is how long after its day's end a record may be made before
// verification says so: the job runs hourly, so a day sealed days later
// was sealed by hand, after an outage, or rebuilt.
const lateSeal = 48 * time.Hour

// checkDayRecord checks one record's signature against the key it names
// and the key expected; it returns what is wrong, or "" and whether that
// is a warning only.
func checkDayRecord(r SealDay, want ed25519.PublicKey) (string, bool) {
	switch {
	case r.Signature == nil && want != nil:
		return "unsigned: the day was sealed without a key, but seals signed by " + hex.EncodeToString(want) + " are expected", false
	case r.Signature == nil:
		return "unsigned: the day was sealed without a key; its seal proves nothing against whoever can rewrite the database", true
	case len(r.PublicKey) != ed25519.PublicKeySize || !ed25519.Verify(r.PublicKey, sealMessage(r.Day, r.Digest, r.SealedAt), r.Signature):
		return "signature invalid: the day's record does not carry a valid signature of its digest", false
	case want != nil && !bytes.Equal(r.PublicKey, want):
		return "signed by another key (" + hex.EncodeToString(r.PublicKey) + ") than the one given", false
	}
	return "", false
}

// verifyDayRecords checks the day records from from to to: each against
// the seals it binds, the record before it, its signature and what check
// holds.
func (s *Store) verifyDayRecords(ctx context.Context, from, to time.Time, check SealCheck) ([]SealProblem, error) {
	recs, err := s.SealDayRecords(ctx, from.AddDate(0, 0, -1), to)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT to_char(day, 'YYYY-MM-DD') FROM seals WHERE day >= $1 AND day <= $2`,
		from.Format(time.DateOnly), to.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("read sealed days: %w", err)
	}
	sealed, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("read sealed days: %w", err)
	}
	var problems []SealProblem
	add := func(day, what string, warning bool) {
		d, _ := time.ParseInLocation(time.DateOnly, day, Beijing)
		problems = append(problems, SealProblem{Kind: "seal_days", Day: d, What: what, Warning: warning})
	}
	have := map[string]SealDay{}
	for _, r := range recs {
		have[r.Day] = r
	}
	lo := from.Format(time.DateOnly)
	for _, r := range recs {
		if r.Day < lo {
			continue
		}
		chains, err := s.dayChains(ctx, r.Day)
		if err != nil {
			return problems, err
		}
		if !bytes.Equal(dayRecordDigest(r.Prev, r.Day, chains), r.Digest) {
			add(r.Day, "digest mismatch: the day's seals no longer hash to the digest its record signed (a seal was replaced)", false)
		}
		d, _ := time.Parse(time.DateOnly, r.Day)
		if p, ok := have[d.AddDate(0, 0, -1).Format(time.DateOnly)]; ok && !bytes.Equal(p.Digest, r.Prev) {
			add(r.Day, "chain broken: the record does not link to the previous day's record", false)
		}
		if what, warn := checkDayRecord(r, check.PublicKey); what != "" {
			add(r.Day, what, warn)
		}
		if exp, ok := check.Expected[r.Day]; ok && !bytes.Equal(exp, r.Digest) {
			add(r.Day, fmt.Sprintf("rebuilt: the day's digest %x differs from the one kept offline (%x)", r.Digest, exp), false)
		}
		_, end := dayBounds(time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, Beijing))
		if late := r.SealedAt.Sub(end); late > lateSeal {
			add(r.Day, fmt.Sprintf("sealed late: %.0f days after the day ended (a seal made late may have been rebuilt)", late.Hours()/24), true)
		}
	}
	// A sealed day after the last record waits for the seal job's next run
	// (or was sealed by a fleetd older than the records); one before it
	// lost its record.
	var lastRec *string
	if err := s.pool.QueryRow(ctx, `SELECT to_char(max(day), 'YYYY-MM-DD') FROM seal_days`).Scan(&lastRec); err != nil {
		return problems, fmt.Errorf("read seal days: %w", err)
	}
	for _, day := range sealed {
		if _, ok := have[day]; ok {
			continue
		}
		if lastRec == nil || day > *lastRec {
			add(day, "not yet bound into a signed day record: the seal job has not run since the day was sealed", true)
		} else {
			add(day, "missing: no signed record binds the day's seals, though later days have one", false)
		}
	}
	var want []string
	for day := range check.Expected {
		if _, ok := have[day]; !ok && day >= lo && day <= to.Format(time.DateOnly) {
			want = append(want, day)
		}
	}
	sort.Strings(want)
	for _, day := range want {
		add(day, "missing: a digest of the day was kept offline, but the database has no record of it", false)
	}
	return problems, nil
}
