package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

var (
	// errInterrupted is ask's answer to Ctrl-C: in raw mode the terminal
	// delivers it as a byte, not as SIGINT, so the demo must stop itself.
	errInterrupted = errors.New("interrupted (Ctrl-C)")
	// errNoInput means the input ended: nobody can answer any more.
	errNoInput = errors.New("input closed")
)

// typeAhead is how long ask discards keys that arrive right after the
// question: those were typed before it appeared (a stray "y" must not
// approve a login nobody has looked at). No one reacts that fast.
const typeAhead = 30 * time.Millisecond

// keyboard asks the person at the terminal yes-or-no questions: one
// keypress when the input is a terminal, one line otherwise (a pipe, a
// file, a terminal whose /dev/tty cannot be opened).
type keyboard struct {
	out io.Writer
	// tty is the terminal, opened anew so that it gets a file description
	// of its own: Go can then poll it, and a read waiting for a key can
	// be cancelled with a deadline. The shared stdin description stays
	// blocking, as the shell that started us expects.
	tty *os.File
	// lines delivers the input's lines in line mode; closed at its end.
	lines <-chan string
}

// openKeyboard reads answers from in, by keypress if it is a terminal.
func openKeyboard(in *os.File, out io.Writer) *keyboard {
	if term.IsTerminal(int(in.Fd())) {
		if tty, err := openTTY(); err == nil {
			return &keyboard{out: out, tty: tty}
		}
	}
	return &keyboard{out: out, lines: readLines(in)}
}

// openTTY opens the controlling terminal (the one stdin is, whenever stdin
// is a terminal) and checks that its reads can be given a deadline.
func openTTY() (*os.File, error) {
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return nil, fmt.Errorf("open the terminal: %w", err)
	}
	if err := tty.SetReadDeadline(time.Time{}); err != nil {
		tty.Close()
		return nil, fmt.Errorf("the terminal cannot be polled: %w", err)
	}
	return tty, nil
}

// readLines reads in line by line in the background. The reader is the
// one goroutine that does not stop with the demo's context: a blocking
// read on a pipe cannot be interrupted portably. It ends at the input's
// end, or with the process.
func readLines(in io.Reader) <-chan string {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines
}

// close releases the terminal.
func (k *keyboard) close() error {
	if k.tty == nil {
		return nil
	}
	return k.tty.Close()
}

// ask waits for y (true) or n (false). It returns ctx's error when ctx
// ends first, errInterrupted on Ctrl-C, and errNoInput at the input's end.
func (k *keyboard) ask(ctx context.Context) (bool, error) {
	if k.tty != nil {
		return k.askKey(ctx)
	}
	return k.askLine(ctx)
}

// askKey reads single keys in raw mode until y or n. The terminal is
// restored whatever happens, including Ctrl-C and ctx ending.
func (k *keyboard) askKey(ctx context.Context) (answer bool, err error) {
	rc, err := k.tty.SyscallConn()
	if err != nil {
		return false, fmt.Errorf("use the terminal: %w", err)
	}
	// Control, not Fd: Fd would switch the descriptor back to blocking
	// mode and so defeat the deadlines.
	var old *term.State
	var rawErr error
	if err := rc.Control(func(fd uintptr) { old, rawErr = term.MakeRaw(int(fd)) }); err != nil {
		return false, fmt.Errorf("use the terminal: %w", err)
	}
	if rawErr != nil {
		return false, fmt.Errorf("put the terminal in raw mode: %w", rawErr)
	}
	defer func() {
		var restoreErr error
		if err := rc.Control(func(fd uintptr) { restoreErr = term.Restore(int(fd), old) }); err != nil {
			restoreErr = err
		}
		if restoreErr != nil && err == nil {
			err = fmt.Errorf("restore the terminal: %w", restoreErr)
		}
	}()

	k.discardTypeAhead()
	// A deadline in the past wakes the read below when ctx ends.
	stop := context.AfterFunc(ctx, func() { _ = k.tty.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	defer func() { _ = k.tty.SetReadDeadline(time.Time{}) }()

	key := make([]byte, 1)
	for {
		if _, err := k.tty.Read(key); err != nil {
			if ctx.Err() != nil {
				return false, ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return false, errNoInput
			}
			return false, fmt.Errorf("read a key: %w", err)
		}
		switch key[0] {
		case 'y', 'Y':
			return true, nil
		case 'n', 'N':
			return false, nil
		case 3: // Ctrl-C
			return false, errInterrupted
		}
		// Any other key (arrows, Enter, …) is not an answer: keep waiting.
	}
}

// discardTypeAhead drops what was typed before the question.
func (k *keyboard) discardTypeAhead() {
	_ = k.tty.SetReadDeadline(time.Now().Add(typeAhead))
	buf := make([]byte, 64)
	for {
		if _, err := k.tty.Read(buf); err != nil {
			break
		}
	}
	_ = k.tty.SetReadDeadline(time.Time{})
}

// askLine reads lines until one says y(es) or n(o).
func (k *keyboard) askLine(ctx context.Context) (bool, error) {
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case line, ok := <-k.lines:
			if !ok {
				return false, errNoInput
			}
			switch strings.ToLower(strings.TrimSpace(line)) {
			case "y", "yes":
				return true, nil
			case "n", "no":
				return false, nil
			}
			fmt.Fprint(k.out, "Please answer y or n: ")
		}
	}
}
