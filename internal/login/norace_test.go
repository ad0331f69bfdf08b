//go:build bench && !race

package login

const raceEnabled = false
