package xepauth_test

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/xdg-go/stringprep"
	"mellium.im/xmpp/jid"

	"github.com/xepauth/caddy-xepauth/xepauth"
)

// stringprepAliases are the code points that XMPP servers using stringprep
// read as another name than PRECIS does, found by an outside review and
// proven through ejabberd: ß, final sigma, the combining ypogegrammeni,
// and the Greek letters with ypogegrammeni or prosgegrammeni.
func stringprepAliases() []rune {
	rs := []rune{'ß', 'ς', 0x0345}
	for r := rune(0x1F80); r <= 0x1FAF; r++ {
		rs = append(rs, r)
	}
	return append(rs, 0x1FB2, 0x1FB3, 0x1FB4, 0x1FB7, 0x1FBC, 0x1FC2, 0x1FC3, 0x1FC4, 0x1FC7, 0x1FCC,
		0x1FF2, 0x1FF3, 0x1FF4, 0x1FF7, 0x1FFC)
}

// respelledIdeographs are the five CJK compatibility ideographs whose
// decomposition Unicode corrected after 3.2: stringprep servers read each
// as one ideograph, PRECIS as another, so they gave impersonation.
var respelledIdeographs = []rune{0x2F868, 0x2F874, 0x2F91F, 0x2F95F, 0x2F9BF}

func wantAmbiguous(t *testing.T, err error, r rune, part string, unassigned bool) {
	t.Helper()
	var ae *xepauth.AmbiguousError
	if !errors.As(err, &ae) {
		t.Fatalf("Unambiguous = %v, want an *AmbiguousError for %U", err, r)
	}
	if ae.Rune != r || ae.Part != part || ae.Unassigned != unassigned {
		t.Fatalf("got %+v, want {Rune:%U Part:%s Unassigned:%v}", *ae, r, part, unassigned)
	}
	if msg := ae.Error(); !strings.Contains(msg, fmt.Sprintf("%U", r)) || !strings.Contains(msg, part) {
		t.Errorf("the message %q names neither %U nor the %s", msg, r, part)
	}
}

func TestUnambiguousRefusesWhatStringprepReadsAsAnotherName(t *testing.T) {
	aliases := stringprepAliases()
	if n := len(aliases) + len(respelledIdeographs); n != 71 {
		t.Fatalf("%d characters under test, want the 71 of the review", n)
	}
	for _, c := range aliases {
		t.Run(fmt.Sprintf("%U", c), func(t *testing.T) {
			j, err := jid.Parse("ali" + string(c) + "@example.org")
			if err != nil {
				t.Fatalf("jid.Parse refuses it (%v): the case tests nothing", err)
			}
			// PRECIS lower-cases the capitals (U+1F88 to U+1F80): the code
			// point refused is the one in the parsed address.
			r, _ := utf8.DecodeRuneInString(strings.TrimPrefix(j.Localpart(), "ali"))
			wantAmbiguous(t, xepauth.Unambiguous(j), r, "localpart", false)
		})
	}
	for _, c := range respelledIdeographs {
		t.Run(fmt.Sprintf("%U", c), func(t *testing.T) {
			typed := "ali" + string(c) + "@example.org"
			j, err := jid.Parse(typed)
			if err != nil {
				t.Fatal(err)
			}
			// jid.Parse never leaves them in an address (NFC replaces each
			// with the ideograph of its corrected decomposition), so they
			// reach Unambiguous only in an address that was not parsed;
			// the gate's sender check refuses them as not canonical.
			if j.String() == typed {
				t.Fatalf("jid.Parse keeps %U: Unambiguous must refuse it then", c)
			}
			wantAmbiguous(t, xepauth.Unambiguous(jid.NewUnsafe("ali"+string(c), "example.org", "").JID), c, "localpart", false)
		})
	}
}

func TestUnambiguousRefusesWhatUnicode32DidNotAssign(t *testing.T) {
	for _, c := range []rune{0xAB70, 0xABBF, 0x1E922} {
		t.Run(fmt.Sprintf("%U", c), func(t *testing.T) {
			if !stringprep.TableA1.Contains(c) {
				t.Fatalf("%U is assigned in Unicode 3.2", c)
			}
			// A right-to-left letter needs a right-to-left localpart.
			local := "x" + string(c)
			if c == 0x1E922 {
				local = string(c)
			}
			j, err := jid.Parse(local + "@example.org")
			if err != nil {
				t.Fatalf("jid.Parse refuses it (%v): the case tests nothing", err)
			}
			wantAmbiguous(t, xepauth.Unambiguous(j), c, "localpart", true)
		})
	}
}

// The final sigma is one of the aliases: stringprep folds it to σ, so on
// a stringprep server αλέξης and αλέξησ are one account. A Greek name
// typed with ς is refused; typed in capitals it parses to σ (PRECIS maps Σ
// to σ wherever it stands) and is accepted.
func TestUnambiguousRefusesAGreekNameEndingInFinalSigma(t *testing.T) {
	wantAmbiguous(t, xepauth.Unambiguous(jid.MustParse("αλέξης@example.org")), 'ς', "localpart", false)
	j := jid.MustParse("ΑΛΈΞΗΣ@example.org")
	if err := xepauth.Unambiguous(j); j.Localpart() != "αλέξησ" || err != nil {
		t.Errorf("ΑΛΈΞΗΣ parses to %q, Unambiguous = %v; want αλέξησ, nil", j.Localpart(), err)
	}
}

func TestUnambiguousRefusesADomainThatNameprepReadsOtherwise(t *testing.T) {
	j := jid.MustParse("alice@faß.de")
	wantAmbiguous(t, xepauth.Unambiguous(j), 'ß', "domainpart", false)
	// The domain alone, as a JID without localpart.
	wantAmbiguous(t, xepauth.Unambiguous(jid.MustParse("faß.de")), 'ß', "domainpart", false)
}

func TestUnambiguousAcceptsOrdinaryAddresses(t *testing.T) {
	for _, s := range []string{
		"alice@example.org",
		"alice.smith-jones_2+tag@sub.example.org",
		"Alice@Example.ORG/Phone", // parsed to lower case
		"jürgen@müller.example",
		"用户@例子.example",
		"ελένη@example.org",
		"σοφία@example.org", // a sigma, but not the final form
		"дмитрий@пример.example",
		"x当@localhost",
		"x弳@localhost",
		"alice@[::1]",
		"alice@127.0.0.1",
		"example.org",
		// The resourcepart is not checked: it names a client, not an account.
		"alice@example.org/ß phone ﬁ",
	} {
		j, err := jid.Parse(s)
		if err != nil {
			t.Fatalf("jid.Parse(%q): %v", s, err)
		}
		if err := xepauth.Unambiguous(j); err != nil {
			t.Errorf("Unambiguous(%q) = %v, want nil", j, err)
		}
	}
}

func TestAmbiguousErrorSaysHowStringprepReadsIt(t *testing.T) {
	for _, tt := range []struct {
		e    xepauth.AmbiguousError
		want []string
	}{
		{xepauth.AmbiguousError{Rune: 'ß', Part: "localpart"}, []string{"U+00DF", "'ß'", "localpart", `as "ss"`}},
		{xepauth.AmbiguousError{Rune: 0x200D, Part: "localpart"}, []string{"U+200D", `'\u200d'`, "ignored"}},
		{xepauth.AmbiguousError{Rune: 0xAB70, Part: "localpart", Unassigned: true}, []string{"U+AB70", "Unicode 3.2"}},
		{xepauth.AmbiguousError{Rune: 'ß', Part: "domainpart"}, []string{"domainpart", `as "ss"`}},
		{xepauth.AmbiguousError{Rune: 0x0345, Part: "localpart"}, []string{"U+0345", `as "ι"`}},
		{xepauth.AmbiguousError{Rune: 0x2F874, Part: "localpart"}, []string{"U+2F874", "not in normal form"}},
		{xepauth.AmbiguousError{Rune: ' ', Part: "localpart"}, []string{"U+0020", "refused"}},
	} {
		msg := tt.e.Error()
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%+v: %q lacks %q", tt.e, msg, w)
			}
		}
	}
}

// No code point that jid.Parse accepts in a localpart, and Unambiguous
// lets through, is changed by stringprep: not by B.1 or B.2, not by NFKC,
// not as a whole localpart x+r either (checked with a nodeprep profile made
// of the library's tables, independently of the code under test; without
// the bidi rule, which Unambiguous leaves to the server because breaking it
// makes a server refuse an address, not read it as another).
func TestNoCodePointUnambiguousAcceptsIsChangedByStringprep(t *testing.T) {
	nodeprep := stringprep.Profile{
		Mappings:  []stringprep.Mapping{stringprep.TableB1, stringprep.TableB2},
		Normalize: true,
		Prohibits: []stringprep.Set{
			stringprep.TableC1_1, stringprep.TableC1_2, stringprep.TableC2_1, stringprep.TableC2_2,
			stringprep.TableC3, stringprep.TableC4, stringprep.TableC5, stringprep.TableC6,
			stringprep.TableC7, stringprep.TableC8, stringprep.TableC9,
		},
	}
	foldNFKC := stringprep.Profile{Mappings: []stringprep.Mapping{stringprep.TableB2}, Normalize: true}
	checkRune := func(q rune) error {
		if rs, ok := stringprep.TableB1.Map(q); ok {
			return fmt.Errorf("B.1 maps %U to %q", q, string(rs))
		}
		// B.2 may map to a decomposed form that NFKC composes back (ǰ to
		// j and a combining caron): what counts is the two together.
		if n, _ := foldNFKC.Prepare(string(q)); n != string(q) {
			return fmt.Errorf("B.2 and NFKC map %U to %q", q, n)
		}
		if stringprep.TableA1.Contains(q) {
			return fmt.Errorf("%U is unassigned in Unicode 3.2", q)
		}
		return nil
	}

	// One share of the code points per CPU: a million parses take a
	// second or two on one core, several under the race detector.
	const last = utf8.MaxRune
	workers := runtime.GOMAXPROCS(0)
	var (
		mu       sync.Mutex
		failures []string
		accepted int
		wg       sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			var fails []string
			n := 0
			for r := rune(w); r <= last; r += rune(workers) {
				if !utf8.ValidRune(r) {
					continue // surrogates
				}
				j, err := jid.Parse("x" + string(r) + "@example.org")
				if err != nil || xepauth.Unambiguous(j) != nil {
					continue
				}
				n++
				local := j.Localpart()
				for _, q := range local {
					if err := checkRune(q); err != nil {
						fails = append(fails, fmt.Sprintf("x+%U parses to %q, accepted: %v", r, local, err))
					}
				}
				if out, err := nodeprep.Prepare(local); err != nil || out != local {
					fails = append(fails, fmt.Sprintf("x+%U parses to %q, accepted, but nodeprep gives %q, %v", r, local, out, err))
				}
			}
			mu.Lock()
			failures = append(failures, fails...)
			accepted += n
			mu.Unlock()
		})
	}
	wg.Wait()
	for i, f := range failures {
		if i == 20 {
			t.Errorf("... and %d more", len(failures)-i)
			break
		}
		t.Error(f)
	}
	// A check that accepts nothing would pass the loop above.
	if accepted < 50000 {
		t.Errorf("only %d code points accepted: the check refuses ordinary letters", accepted)
	}
	t.Logf("%d of %d code points accepted", accepted, last+1)
}
