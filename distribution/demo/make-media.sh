#!/usr/bin/env bash
# make-media.sh — regenerates the committed demo media under distribution/demo/media/.
#
# Synthetic sources only (lavfi testsrc2/smptebars + sine), so the output carries no
# third-party content. Two renditions (320x180 and 640x360), 2 s segments, 8 s total,
# once as MPEG-TS and once as fMP4, laid out like the bucket:
#   media/courses/<course>/ts/master.m3u8   media/courses/<course>/fmp4/master.m3u8
# and intro-to-hls's downloads: media/courses/intro-to-hls/files/course-notes.pdf (a
# one-page PDF this script writes byte for byte) and its title in titles.tsv.
# Usage: distribution/demo/make-media.sh        (needs ffmpeg: apt-get install -y ffmpeg)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out="$here/media/courses"
duration=8
fps=24

# make COURSE VIDEO_SOURCE TONE_HZ
make_course() {
	local course=$1 src=$2 tone=$3 fmt ext dir
	for fmt in ts fmp4; do
		dir="$out/$course/$fmt"
		rm -rf "$dir"
		mkdir -p "$dir"
		if [ "$fmt" = ts ]; then ext=ts; else ext=m4s; fi
		(
			cd "$dir"
			ffmpeg -hide_banner -loglevel error -nostdin -y \
				-f lavfi -i "$src=size=640x360:rate=$fps:duration=$duration" \
				-f lavfi -i "sine=frequency=$tone:sample_rate=44100:duration=$duration" \
				-filter_complex "[0:v]split=2[v0][v1];[v0]scale=320:180[lo];[v1]null[hi]" \
				-map "[lo]" -map "[hi]" -map 1:a -map 1:a \
				-c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p \
				-g $((fps * 2)) -keyint_min $((fps * 2)) -sc_threshold 0 \
				-b:v:0 60k -maxrate:v:0 80k -bufsize:v:0 120k \
				-b:v:1 150k -maxrate:v:1 200k -bufsize:v:1 300k \
				-c:a aac -b:a 32k -ac 1 \
				-map_metadata -1 -fflags +bitexact -flags:v +bitexact -flags:a +bitexact \
				-f hls -hls_time 2 -hls_playlist_type vod -hls_segment_type "$([ "$fmt" = ts ] && echo mpegts || echo fmp4)" \
				-hls_fmp4_init_filename init.mp4 \
				-hls_segment_filename "%v/seg%03d.$ext" \
				-master_pl_name master.m3u8 \
				-var_stream_map "v:0,a:0,name:180p v:1,a:1,name:360p" \
				"%v/index.m3u8"
		)
	done
}

# make_pdf OUT LINE... — a one-page PDF (Helvetica, A5) with the given lines of
# ASCII text, written byte for byte by this script (no tool needed), so the same
# lines always give the same file.
make_pdf() {
	local out=$1 body="" obj=() offsets=() pdf="" n i y=520 line
	shift
	body="BT /F1 14 Tf 40 $y Td 18 TL"
	for line in "$@"; do
		line=${line//\\/\\\\}; line=${line//(/\\(}; line=${line//)/\\)}
		body+=" ($line) '"
	done
	body+=" ET"
	obj[1]="<< /Type /Catalog /Pages 2 0 R >>"
	obj[2]="<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
	obj[3]="<< /Type /Page /Parent 2 0 R /MediaBox [0 0 420 595] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
	obj[4]="<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
	obj[5]="<< /Length ${#body} >>"$'\n'"stream"$'\n'"$body"$'\n'"endstream"
	pdf="%PDF-1.4"$'\n'
	for i in 1 2 3 4 5; do
		offsets[i]=${#pdf}
		pdf+="$i 0 obj"$'\n'"${obj[i]}"$'\n'"endobj"$'\n'
	done
	local xref=${#pdf}
	pdf+="xref"$'\n'"0 6"$'\n'"0000000000 65535 f "$'\n'
	for i in 1 2 3 4 5; do
		pdf+=$(printf '%010d 00000 n ' "${offsets[i]}")$'\n'
	done
	pdf+="trailer"$'\n'"<< /Size 6 /Root 1 0 R >>"$'\n'"startxref"$'\n'"$xref"$'\n'"%%EOF"$'\n'
	printf '%s' "$pdf" >"$out"
}

make_course intro-to-hls testsrc2 440
make_course advanced-streaming smptebars 660

# intro-to-hls's downloads (publish uploads files/ and titles.tsv names them).
mkdir -p "$out/intro-to-hls/files"
LC_ALL=C make_pdf "$out/intro-to-hls/files/course-notes.pdf" \
	"Introduction to HLS - course notes" \
	"" \
	"A master playlist lists the renditions of a video;" \
	"each rendition's media playlist lists its segments." \
	"" \
	"This course is published twice: as MPEG-TS (ts/)" \
	"and as fragmented MP4 (fmp4/), 2 s segments," \
	"two renditions, 320x180 and 640x360." \
	"" \
	"cfgate demo material: synthetic, no third-party content."
printf '# name<TAB>title of the course files (publish --course reads it; not uploaded)\ncourse-notes.pdf\tCourse notes (PDF)\n' \
	>"$out/intro-to-hls/titles.tsv"

du -sh "$here/media"
