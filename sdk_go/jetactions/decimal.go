package jetactions

import (
	"encoding/json"
	"math/big"
	"regexp"
	"strings"
)

// plainNumber is a number in plain decimal notation: no "nan", "inf", hex or
// "_", which Go's and Python's parsers would otherwise take.
var plainNumber = regexp.MustCompile(`^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$`)

// Decimal is an exact decimal number, the Go type of a DecimalField input. It
// is immutable: arithmetic returns a new Decimal. The zero value is 0.
type Decimal struct {
	rat *big.Rat
}

// ParseDecimal reads a number in plain decimal notation ("2.50", "-1e3").
func ParseDecimal(s string) (Decimal, bool) {
	s = strings.TrimSpace(s)
	if !plainNumber.MatchString(s) {
		return Decimal{}, false
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return Decimal{}, false
	}
	return Decimal{rat: r}, true
}

// MustDecimal is ParseDecimal for constants; it panics on a malformed number.
func MustDecimal(s string) Decimal {
	d, ok := ParseDecimal(s)
	if !ok {
		panic("jetactions: not a decimal number: " + s)
	}
	return d
}

func (d Decimal) r() *big.Rat {
	if d.rat == nil {
		return new(big.Rat)
	}
	return d.rat
}

// Sign returns -1, 0 or +1.
func (d Decimal) Sign() int { return d.r().Sign() }

// Cmp compares d and e: -1, 0 or +1.
func (d Decimal) Cmp(e Decimal) int { return d.r().Cmp(e.r()) }

// Add returns d + e.
func (d Decimal) Add(e Decimal) Decimal { return Decimal{rat: new(big.Rat).Add(d.r(), e.r())} }

// Sub returns d - e.
func (d Decimal) Sub(e Decimal) Decimal { return Decimal{rat: new(big.Rat).Sub(d.r(), e.r())} }

// Rat returns a copy of the exact value.
func (d Decimal) Rat() *big.Rat { return new(big.Rat).Set(d.r()) }

// Float64 returns the nearest float64.
func (d Decimal) Float64() float64 {
	f, _ := d.r().Float64()
	return f
}

// StringFixed returns d rounded to places digits after the point ("10.50").
func (d Decimal) StringFixed(places int) string { return d.r().FloatString(places) }

// String returns the exact value in decimal notation, or as a fraction
// ("1/3") when none is exact.
func (d Decimal) String() string {
	r := d.r()
	if places, exact := r.FloatPrec(); exact {
		return r.FloatString(places)
	}
	return r.RatString()
}

// MarshalJSON writes the exact value as a JSON string, so that no digit is
// lost to a double on the way.
func (d Decimal) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
