package publish

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Progress receives Upload's progress. Done is called from several goroutines.
type Progress interface {
	Start(files int, bytes int64)
	Done(f File, action string)
	Finish()
}

type nopProgress struct{}

func (nopProgress) Start(int, int64)  {}
func (nopProgress) Done(File, string) {}
func (nopProgress) Finish()           {}

// NewProgress returns a progress bar redrawn in place when w is a terminal,
// and one plain line per file otherwise (logs, CI, pipes).
func NewProgress(w io.Writer) Progress {
	if isTerminal(w) {
		return &bar{w: w, width: 30}
	}
	return &lines{w: w}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

type lines struct {
	mu          sync.Mutex
	w           io.Writer
	total, done int
}

func (l *lines) Start(files int, _ int64) { l.total = files }

func (l *lines) Done(f File, action string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	fmt.Fprintf(l.w, "[%d/%d] %s %s (%s)\n", l.done, l.total, action, f.Key, humanBytes(f.Size))
}

func (l *lines) Finish() {}

type bar struct {
	mu                    sync.Mutex
	w                     io.Writer
	width                 int
	files, done           int
	totalBytes, doneBytes int64
}

func (b *bar) Start(files int, bytes int64) {
	b.files, b.totalBytes = files, bytes
	b.draw()
}

func (b *bar) Done(f File, _ string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done++
	b.doneBytes += f.Size
	b.draw()
}

func (b *bar) draw() {
	filled := b.width
	if b.totalBytes > 0 {
		filled = int(int64(b.width) * b.doneBytes / b.totalBytes)
	} else if b.files > 0 {
		filled = b.width * b.done / b.files
	}
	fmt.Fprintf(b.w, "\r[%s%s] %d/%d files  %s/%s ", strings.Repeat("#", filled), strings.Repeat("-", b.width-filled),
		b.done, b.files, humanBytes(b.doneBytes), humanBytes(b.totalBytes))
}

func (b *bar) Finish() { fmt.Fprintln(b.w) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}
