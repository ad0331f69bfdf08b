package xepauth

import (
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
	"mellium.im/xmpp/jid"
)

// AmbiguousError says why an address was refused: a code point that XMPP
// servers using stringprep (RFC 6122) read differently from PRECIS (RFC 7622), or one
// unassigned in Unicode 3.2 (which stringprep servers may refuse or read otherwise).
type AmbiguousError struct {
	Rune       rune   // the first offending code point
	Part       string // "localpart" or "domainpart"
	Unassigned bool   // true: unassigned in Unicode 3.2; false: stringprep and PRECIS disagree
}

// Error names the code point, both as U+XXXX and as the character itself
// (quoted as Go does, so that an invisible one still shows), and says how
// a stringprep server reads it where the tables tell.
func (e *AmbiguousError) Error() string {
	what := fmt.Sprintf("%U %s in the %s", e.Rune, strconv.QuoteRune(e.Rune), e.Part)
	if e.Unassigned {
		return what + " was not assigned in Unicode 3.2, so XMPP servers that use stringprep (RFC 6122) may refuse it or read it as something else"
	}
	if _, ok := stringprep.TableB1.Map(e.Rune); ok {
		return what + " is ignored by XMPP servers that use stringprep (RFC 6122), but kept by PRECIS (RFC 7622)"
	}
	_, folded := stringprep.TableB2.Map(e.Rune)
	out, err := prepFor(e.Part).profile.Prepare(string(e.Rune))
	switch {
	case err != nil:
		return what + " is refused by XMPP servers that use stringprep (RFC 6122), although PRECIS (RFC 7622) accepts it"
	case folded:
		return fmt.Sprintf("%s is read as %s by XMPP servers that use stringprep (RFC 6122), but kept as it is by PRECIS (RFC 7622)", what, strconv.Quote(out))
	case out != string(e.Rune):
		// Only NFKC changes it, and NFKC here is not Unicode 3.2's: no
		// reading is named, as it may not be the servers'.
		return what + " is not in normal form: XMPP servers that use stringprep (RFC 6122) and PRECIS (RFC 7622) each replace it, not necessarily by the same character"
	default:
		return what + " is read otherwise by XMPP servers that use stringprep (RFC 6122) than by PRECIS (RFC 7622)"
	}
}

// Unambiguous returns nil when every code point of j's localpart and domainpart is read
// the same by stringprep (nodeprep for the localpart, nameprep for the domainpart) as by
// PRECIS, else an *AmbiguousError. j is a JID as jid.Parse returns it (already PRECIS-canonical).
//
// Why it matters: ejabberd authenticates a login as the stringprep form of
// the name but may stamp stanzas with the name as the client typed it, and
// other servers store accounts under the stringprep form. An address that
// stringprep reads as another spelling (aliß, which stringprep folds to
// aliss) is then a second name for that account, and a rule or an upstream
// that knows the account by one spelling is fooled by the other.
//
// Why one code point at a time is enough: stringprep (RFC 3454 §3–6) maps
// each code point on its own (tables B.1 and B.2), normalises the whole
// string with NFKC, then checks each code point of the result against the
// prohibition tables. Unambiguous requires, for each code point r of the
// part, that mapping r and normalising the result with NFKC gives r back
// (B.2 may map to a decomposed form that NFKC composes again: ǰ becomes j
// and a combining caron, then ǰ), and that r is not prohibited. Then
// NFKC(r) = r too (NFKC is idempotent), so r's full compatibility
// decomposition is its canonical one, and the mapped r decomposes to it
// as well. Decomposition works code point by code point and canonical
// reordering does not care how the string was cut, so the whole mapped
// part decomposes to the NFD of the part, and its NFKC is the part's NFC.
// j's parts come out of PRECIS, so they are in NFC already: stringprep
// gives the part back unchanged, and since every code point passed the
// prohibition tables, accepts it. A part refused for one of its code
// points might occasionally come through stringprep whole; refusing it is
// merely cautious.
//
// Unicode versions: stringprep is defined on Unicode 3.2. The mapping and
// prohibition tables are RFC 3454's; NFKC comes from golang.org/x/text, on
// a later Unicode. A code point unassigned in 3.2 is refused outright (table
// A.1). For one assigned code point, NFKC has stayed the same since 3.2 but
// for five CJK compatibility ideographs whose decompositions Unicode 4.0
// corrected (U+2F868, U+2F874, U+2F91F, U+2F95F, U+2F9BF; Prosody and
// ejabberd still use the 3.2 ones); they decompose in every version, so
// they are refused either way, and NFC never leaves them in a
// PRECIS-canonical part.
//
// That also means Unambiguous never sees them: jid.Parse turns U+2F874 into
// U+5F53, a different ideograph from the U+5F33 that stringprep's Unicode
// 3.2 tables make of it, and the parsed address is then a different,
// unambiguous one. A caller that holds the address as typed should also
// refuse text that jid.Parse spells differently (beyond letter case).
//
// The resourcepart is not checked: it names one of an account's connected
// clients, chosen at login, not the account. A resource that a server reads
// otherwise can at worst be another client of the same account, never
// another account.
//
// Nor is the bidirectional-text rule: it is a property of the whole part,
// and where stringprep's (RFC 3454 §6) is stricter than PRECIS's (RFC 5893),
// a server refuses the address; it does not read it as another one.
func Unambiguous(j jid.JID) error {
	if err := nodeprep.check(j.Localpart(), "localpart"); err != nil {
		return err
	}
	return nameprep.check(j.Domainpart(), "domainpart")
}

// prep is a stringprep profile checked one code point at a time.
type prep struct {
	profile stringprep.Profile
	// same[r] tells, for an ASCII r, whether the profile keeps r as it is.
	// Computed from the profile itself: PRECIS lower-cases ASCII letters
	// and refuses controls and space in a localpart, so every ASCII code
	// point of a canonical JID is one of these, and most addresses never
	// reach the tables.
	same [utf8.RuneSelf]bool
}

// Nodeprep (RFC 6122 Appendix A) and nameprep (RFC 3491) both map with
// B.1 (to nothing) and B.2 (case folding for NFKC), normalise with NFKC,
// and prohibit code points of the C tables.
var (
	nodeprep = newPrep(stringprep.Profile{
		Mappings:  []stringprep.Mapping{stringprep.TableB1, stringprep.TableB2},
		Normalize: true,
		Prohibits: []stringprep.Set{
			stringprep.TableC1_1, stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
			stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
			stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
			nodeprepASCII,
		},
	})
	nameprep = newPrep(stringprep.Profile{
		Mappings:  []stringprep.Mapping{stringprep.TableB1, stringprep.TableB2},
		Normalize: true,
		Prohibits: []stringprep.Set{
			stringprep.TableC1_2, stringprep.TableC2_2,
			stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
			stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
		},
	})
)

// nodeprepASCII is the one prohibition nodeprep adds to RFC 3454's tables
// (RFC 6122 Appendix A.5): the characters that delimit or quote a JID.
var nodeprepASCII = stringprep.Set{
	{'"', '"'}, {'&', '\''}, {'/', '/'}, {':', ':'}, {'<', '<'}, {'>', '>'}, {'@', '@'},
}

func prepFor(part string) *prep {
	if part == "domainpart" {
		return nameprep
	}
	return nodeprep
}

func newPrep(profile stringprep.Profile) *prep {
	p := &prep{profile: profile}
	for r := range rune(utf8.RuneSelf) {
		p.same[r] = p.keeps(r) == keptAsIs
	}
	return p
}

// reading is how a profile reads one code point.
type reading int

const (
	keptAsIs reading = iota
	readOtherwise
	unassigned
)

// keeps tells how the profile reads r on its own.
func (p *prep) keeps(r rune) reading {
	if stringprep.TableA1.Contains(r) {
		return unassigned
	}
	out, err := p.profile.Prepare(string(r))
	if err != nil || out != string(r) {
		return readOtherwise
	}
	return keptAsIs
}

// check returns an *AmbiguousError for the first code point of s, the
// part called part, that the profile does not keep as it is.
func (p *prep) check(s, part string) error {
	for _, r := range s {
		if r < utf8.RuneSelf && p.same[r] {
			continue
		}
		if k := p.keeps(r); k != keptAsIs {
			return &AmbiguousError{Rune: r, Part: part, Unassigned: k == unassigned}
		}
	}
	return nil
}
