package jetactions

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// ID is the id of one record, keeping the JSON type Jet sent it with: a
// number or a string. Jet sends the same record's id either way, so compare
// ids with String, which spells 1 and "1" alike.
type ID struct {
	text   string
	number float64
	isNum  bool
}

// NumberID returns the id of a JSON number.
func NumberID(n float64) ID { return ID{number: n, isNum: true} }

// StringID returns the id of a JSON string.
func StringID(s string) ID { return ID{text: s} }

// IsNumber reports whether Jet sent the id as a JSON number.
func (id ID) IsNumber() bool { return id.isNum }

// String returns the id as text: numbers in their shortest decimal form, so
// that NumberID(1) and StringID("1") both give "1".
func (id ID) String() string {
	if id.isNum {
		return formatNumber(id.number)
	}
	return id.text
}

// Int64 returns the id as a whole number, for a number without fraction or a
// string of digits.
func (id ID) Int64() (int64, bool) {
	if id.isNum {
		if id.number != math.Trunc(id.number) || math.Abs(id.number) >= 1<<63 {
			return 0, false
		}
		return int64(id.number), true
	}
	n, err := strconv.ParseInt(strings.TrimSpace(id.text), 10, 64)
	return n, err == nil
}

// Value returns the id as Jet sent it: a float64 or a string.
func (id ID) Value() any {
	if id.isNum {
		return id.number
	}
	return id.text
}

// MarshalJSON writes the id with its JSON type.
func (id ID) MarshalJSON() ([]byte, error) { return json.Marshal(id.Value()) }

// UnmarshalJSON reads a JSON number or string.
func (id *ID) UnmarshalJSON(data []byte) error {
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	parsed, ok := idOf(v)
	if !ok {
		return &json.UnsupportedValueError{Str: string(data)}
	}
	*id = parsed
	return nil
}

func idOf(v any) (ID, bool) {
	switch v := v.(type) {
	case float64:
		return NumberID(v), true
	case string:
		return StringID(v), true
	}
	return ID{}, false
}

// formatNumber spells a JSON number the way Jet's users read it: whole
// numbers without a fraction, others in their shortest round-trip form.
func formatNumber(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
