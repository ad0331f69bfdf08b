package main

import (
	"strings"
	"unicode"
)

// font draws the characters a code can hold, five rows each, rows split
// by "|". Large letters make the "same code as on the page?" check, the
// point of XEP-0070's confirm, something a person actually does.
var font = map[rune]string{
	'A': " ### |#   #|#####|#   #|#   #",
	'B': "#### |#   #|#### |#   #|#### ",
	'C': " ####|#    |#    |#    | ####",
	'D': "#### |#   #|#   #|#   #|#### ",
	'E': "#####|#    |#### |#    |#####",
	'F': "#####|#    |#### |#    |#    ",
	'G': " ####|#    |#  ##|#   #| ####",
	'H': "#   #|#   #|#####|#   #|#   #",
	'I': "#####|  #  |  #  |  #  |#####",
	'J': "#####|   # |   # |#  # | ##  ",
	'K': "#   #|#  # |###  |#  # |#   #",
	'L': "#    |#    |#    |#    |#####",
	'M': "#   #|## ##|# # #|#   #|#   #",
	'N': "#   #|##  #|# # #|#  ##|#   #",
	'O': " ### |#   #|#   #|#   #| ### ",
	'P': "#### |#   #|#### |#    |#    ",
	'Q': " ### |#   #|# # #|#  # | ## #",
	'R': "#### |#   #|#### |#  # |#   #",
	'S': " ####|#    | ### |    #|#### ",
	'T': "#####|  #  |  #  |  #  |  #  ",
	'U': "#   #|#   #|#   #|#   #| ### ",
	'V': "#   #|#   #|#   #| # # |  #  ",
	'W': "#   #|#   #|# # #|## ##|#   #",
	'X': "#   #| # # |  #  | # # |#   #",
	'Y': "#   #| # # |  #  |  #  |  #  ",
	'Z': "#####|   # |  #  | #   |#####",
	'0': " ### |#  ##|# # #|##  #| ### ",
	'1': "  #  | ##  |  #  |  #  | ### ",
	'2': " ### |#   #|  ## | #   |#####",
	'3': "#### |    #| ### |    #|#### ",
	'4': "#   #|#   #|#####|    #|    #",
	'5': "#####|#    |#### |    #|#### ",
	'6': " ### |#    |#### |#   #| ### ",
	'7': "#####|    #|   # |  #  |  #  ",
	'8': " ### |#   #| ### |#   #| ### ",
	'9': " ### |#   #| ####|    #| ### ",
}

const (
	fontRows = 5
	// maxBig keeps the big rendering within an 80-column terminal; a
	// longer code is shown in plain letters only.
	maxBig = 10
)

// bigText renders s in the font, or returns nil when s is empty, too long
// or has a character the font lacks (a code from the network can hold
// anything; the plain line in the box still shows it).
func bigText(s string) []string {
	if s == "" || len(s) > maxBig {
		return nil
	}
	rows := make([]strings.Builder, fontRows)
	for i, r := range s {
		g, ok := font[unicode.ToUpper(r)]
		if !ok {
			return nil
		}
		for j, row := range strings.Split(g, "|") {
			if i > 0 {
				rows[j].WriteString("  ")
			}
			rows[j].WriteString(strings.ReplaceAll(row, "#", "█"))
		}
	}
	out := make([]string, fontRows)
	for i := range rows {
		out[i] = rows[i].String()
	}
	return out
}
