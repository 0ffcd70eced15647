package publish

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Rendition is one rung of the ladder MakeLadder encodes.
type Rendition struct {
	Height       int
	VideoBitrate string // ffmpeg -b:v value
}

// DefaultLadder is the two-rendition ladder of --from-mp4.
var DefaultLadder = []Rendition{{Height: 720, VideoBitrate: "3000k"}, {Height: 360, VideoBitrate: "800k"}}

// Formats of MakeLadder: each goes to its own subfolder with a master.m3u8,
// the layout the player and the local distribution expect
// (courses/<id>/ts/master.m3u8, courses/<id>/fmp4/master.m3u8).
const (
	FormatTS   = "ts"   // MPEG-TS segments
	FormatFMP4 = "fmp4" // fragmented MP4 (CMAF) with an init segment
)

// LadderOptions configures MakeLadder.
type LadderOptions struct {
	FFmpeg  string   // default "ffmpeg" on PATH
	FFprobe string   // default "ffprobe" on PATH
	Formats []string // default ts and fmp4
	Ladder  []Rendition
	// SegmentSeconds is the target segment duration (default 4).
	SegmentSeconds int
}

// MakeLadder encodes input (an MP4 or anything ffmpeg reads) into an HLS
// ladder under outDir/<format>/: master.m3u8 and v<N>/index.m3u8 with its
// segments, H.264 + AAC (audio only when the input has some).
func MakeLadder(ctx context.Context, input, outDir string, o LadderOptions) error {
	if o.FFmpeg == "" {
		o.FFmpeg = "ffmpeg"
	}
	if o.FFprobe == "" {
		o.FFprobe = "ffprobe"
	}
	if len(o.Formats) == 0 {
		o.Formats = []string{FormatTS, FormatFMP4}
	}
	if len(o.Ladder) == 0 {
		o.Ladder = DefaultLadder
	}
	if o.SegmentSeconds <= 0 {
		o.SegmentSeconds = 4
	}
	ffmpeg, err := exec.LookPath(o.FFmpeg)
	if err != nil {
		return fmt.Errorf("--from-mp4 needs ffmpeg (apt-get install -y ffmpeg): %w", err)
	}
	if _, err := os.Stat(input); err != nil {
		return fmt.Errorf("input: %w", err)
	}
	audio, err := hasAudio(ctx, o.FFprobe, input)
	if err != nil {
		return err
	}
	for _, format := range o.Formats {
		if err := encode(ctx, ffmpeg, input, filepath.Join(outDir, format), format, audio, o); err != nil {
			return err
		}
	}
	return nil
}

func hasAudio(ctx context.Context, ffprobe, input string) (bool, error) {
	path, err := exec.LookPath(ffprobe)
	if err != nil {
		return false, fmt.Errorf("--from-mp4 needs ffprobe (apt-get install -y ffmpeg): %w", err)
	}
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, "-v", "error", "-select_streams", "a", "-show_entries", "stream=index", "-of", "csv=p=0", input)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return false, fmt.Errorf("ffprobe %s: %w: %s", input, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)) != "", nil
}

func encode(ctx context.Context, ffmpeg, input, dir, format string, audio bool, o LadderOptions) error {
	var segType, ext string
	switch format {
	case FormatTS:
		segType, ext = "mpegts", "ts"
	case FormatFMP4:
		segType, ext = "fmp4", "m4s"
	default:
		return fmt.Errorf("unknown format %q (want %s or %s)", format, FormatTS, FormatFMP4)
	}
	for i := range o.Ladder {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("v%d", i)), 0o755); err != nil {
			return err
		}
	}
	n := len(o.Ladder)
	var filter strings.Builder
	fmt.Fprintf(&filter, "[0:v]split=%d", n)
	for i := range n {
		fmt.Fprintf(&filter, "[s%d]", i)
	}
	for i, r := range o.Ladder {
		fmt.Fprintf(&filter, ";[s%d]scale=-2:%d[v%d]", i, r.Height, i)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", input, "-filter_complex", filter.String()}
	var streamMap []string
	for i, r := range o.Ladder {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
		if audio {
			args = append(args, "-map", "0:a:0")
		}
		args = append(args, fmt.Sprintf("-b:v:%d", i), r.VideoBitrate)
		if audio {
			streamMap = append(streamMap, fmt.Sprintf("v:%d,a:%d", i, i))
		} else {
			streamMap = append(streamMap, fmt.Sprintf("v:%d", i))
		}
	}
	seg := o.SegmentSeconds
	args = append(args,
		"-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
		// A keyframe at every segment boundary, so renditions switch cleanly.
		"-force_key_frames", fmt.Sprintf("expr:gte(t,n_forced*%d)", seg), "-sc_threshold", "0",
	)
	if audio {
		args = append(args, "-c:a", "aac", "-b:a", "128k", "-ac", "2")
	}
	args = append(args,
		"-f", "hls", "-hls_time", fmt.Sprint(seg), "-hls_playlist_type", "vod",
		"-hls_segment_type", segType, "-hls_fmp4_init_filename", "init.mp4",
		"-hls_segment_filename", filepath.Join(dir, "v%v", "seg%03d."+ext),
		"-master_pl_name", "master.m3u8",
		"-var_stream_map", strings.Join(streamMap, " "),
		filepath.Join(dir, "v%v", "index.m3u8"),
	)
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ffmpeg, args...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ffmpeg (%s): %w: %s", format, err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
