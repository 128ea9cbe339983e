#!/usr/bin/env bash
# Rebuilds the committed seed corpora under fuzz/seeds/ from the project's fixtures:
# images from fixtures/images/ (committed), media from fixtures/generated/speech.wav
# (`make fixtures`), cut small with ffmpeg; hostile headers and hand-made JSON/query
# inputs written here. Seeds stay a few KB each. Not run by `make fuzz` (it uses the
# committed seeds); run it by hand after changing it. Needs ffmpeg.
set -euo pipefail
cd "$(dirname "$0")/.."
S=fuzz/seeds
rm -rf "$S"
mkdir -p "$S"/{image_decode,media_decode,v1_protocol,predict_input,fetch_policy}
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }

# --- images: the astronaut, small, in every format and variant the decoder takes.
I=$S/image_decode
A=fixtures/images/astronaut.jpg
ff -i "$A" -vf scale=48:48 -q:v 8 "$I/baseline.jpg"
ff -i "$A" -vf scale=40:24,format=gray -q:v 8 "$I/grey.jpg"
ff -i "$A" -vf scale=33:17 -pix_fmt yuvj444p -q:v 10 "$I/odd-444.jpg"
ff -i "$A" -vf scale=32:32 "$I/rgb.png"
ff -i "$A" -vf scale=24:24,format=rgba "$I/rgba.png"
ff -i "$A" -vf scale=16:16,format=rgb48be "$I/rgb16.png"
ff -i "$A" -vf scale=16:16,format=gray16be "$I/grey16.png"
ff -i "$A" -vf scale=20:20,format=pal8 "$I/palette.png"
ff -i "$A" -vf scale=32:32 -lossless 1 "$I/lossless.webp"
ff -i "$A" -vf scale=32:32 -quality 30 "$I/lossy.webp"
ff -i "$A" -vf scale=24:24 "$I/still.gif"
ff -i "$A" -i "$A" -filter_complex "[0]scale=16:16[a];[1]scale=16:16,hflip[b];[a][b]concat=n=2" -loop 0 "$I/two-frames.gif"
ff -i "$A" -vf scale=24:24 "$I/rgb.bmp"
ff -i "$A" -vf scale=16:16,format=rgba "$I/rgba.bmp"
ff -i "$A" -vf scale=24:24 -compression_algo raw "$I/raw.tiff"
ff -i "$A" -vf scale=24:24 -compression_algo lzw "$I/lzw.tiff"
ff -i "$A" -vf scale=24:24 -compression_algo packbits "$I/packbits.tiff"
python3 - "$I" <<'PY'
import struct, sys, zlib
d = sys.argv[1]
jpg = open(f"{d}/baseline.jpg", "rb").read()
# EXIF orientation 6 (rotate 90) in an APP1 segment right after SOI.
tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + b"\x00\x00\x00\x00"
app1 = b"Exif\x00\x00" + tiff
open(f"{d}/exif-rotated.jpg", "wb").write(jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:])
open(f"{d}/truncated.jpg", "wb").write(jpg[: len(jpg) // 2])
# A PNG header claiming 100000 x 100000 pixels (a decompression bomb's header).
def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
open(f"{d}/bomb-header.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
# A zero-width GIF header.
open(f"{d}/zero.gif", "wb").write(b"GIF89a\x00\x00\x10\x00\x00\x00\x00;")
PY

# --- media: a quarter second of speech in every container and codec decoded.
M=$S/media_decode
W=fixtures/generated/speech.wav
cut=(-ss 1.0 -t 0.25)
ff "${cut[@]}" -i "$W" -ar 8000 -c:a pcm_u8 "$M/u8-8k.wav"
ff "${cut[@]}" -i "$W" -ar 16000 -ac 2 -t 0.05 -c:a pcm_s16le "$M/s16-stereo.wav"
ff "${cut[@]}" -i "$W" -ar 11025 -t 0.1 -c:a pcm_f32le "$M/f32-11k.wav"
ff "${cut[@]}" -i "$W" -ar 44100 -t 0.03 -c:a pcm_s24le "$M/s24-44k.wav"
ff "${cut[@]}" -i "$W" -ar 16000 -c:a libmp3lame -b:a 32k "$M/clip.mp3"
ff "${cut[@]}" -i "$W" -ar 16000 -c:a aac -b:a 24k "$M/clip.m4a"
ff "${cut[@]}" -i "$W" -ar 16000 -c:a aac -b:a 24k -f mov "$M/clip.mov"
ff "${cut[@]}" -i "$W" -ar 8000 -c:a flac "$M/clip.flac"
ff "${cut[@]}" -i "$W" -ar 16000 -c:a libvorbis -q:a 0 "$M/clip.ogg"
ff "${cut[@]}" -i "$W" -ar 8000 -t 0.1 -c:a pcm_s16le "$M/pcm.mkv"
ff "${cut[@]}" -i "$W" -ar 8000 -c:a flac "$M/flac.mka"
ff "${cut[@]}" -i "$W" -ar 16000 -c:a libvorbis -q:a 0 "$M/vorbis.webm"
ff -f lavfi -i color=c=black:s=16x16:d=0.2 -c:v mjpeg "$M/video-only.mp4"
python3 - "$M" <<'PY'
import struct, sys
d = sys.argv[1]
def wav(rate, channels, data_len, payload, bits=16, fmt=1):
    block = channels * bits // 8
    return (b"RIFF" + struct.pack("<I", 36 + data_len) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits)
            + b"data" + struct.pack("<I", data_len) + payload)
# Drop the 8 KB PADDING block ffmpeg writes into FLAC files.
flac = open(f"{d}/clip.flac", "rb").read()
out, at = bytearray(flac[:4]), 4
while True:
    last, kind, size = flac[at] & 0x80, flac[at] & 0x7F, int.from_bytes(flac[at + 1:at + 4], "big")
    block = bytearray(flac[at:at + 4 + size])
    at += 4 + size
    if kind != 1:
        out += block
        last_at = len(out) - len(block)
    if last:
        break
out[last_at] |= 0x80
open(f"{d}/clip.flac", "wb").write(bytes(out) + flac[at:])
seeds = {
    "hostile-4ghz.wav": wav(4294967291, 1, 32, bytes(32)),          # the 76-byte WAV of issue 17
    "hostile-1hz.wav": wav(1, 1, 2000, bytes(2000)),
    "hostile-64ch.wav": wav(16000, 64, 256, bytes(256)),
    "hostile-claims-2gb.wav": wav(8000, 1, 2_000_000_000, bytes(512)),
    "hostile-zero-block.wav": wav(16000, 0, 64, bytes(64)),
    "hostile-33bit.wav": wav(16000, 1, 64, bytes(64), bits=33),
    "hostile-float16.wav": wav(16000, 1, 64, bytes(64), bits=16, fmt=3),
    "empty-data.wav": wav(16000, 1, 0, b""),
}
for name, data in seeds.items():
    open(f"{d}/{name}", "wb").write(data)
PY

# --- v1 protocol: path, query, content type, authorization, then the body (one line each).
P=$S/v1_protocol
p() { printf '%s\n%s\n%s\n%s\n' "$2" "$3" "$4" "$5" > "$P/$1"; printf '%s' "$6" >> "$P/$1"; }
p echo-json        blueprints/Echo/1.0.0 "" application/json "Simple k" '{"hello":"world","n":[1,2.5,null,true]}'
p echo-text-raw    blueprints/Echo "output=raw" "text/plain; charset=utf-8" "k" 'plain text'
p echo-void        algo://blueprints/echo/1.* "output=void&timeout=5" application/json "Simple k" '"x"'
p echo-bytes       /blueprints/Echo/latestPrivate "stdout=true" application/octet-stream "" $'\x00\xff\xfe'
p echo-bad-json    blueprints/Echo/1.0.0 "" "application/vnd.x+json" "Simple k" '{"a":'
p bad-timeout      blueprints/Echo/1.0.0 "timeout=0&output=file" application/json "" '[]'
p hash-version     blueprints/Echo/abcdef1234 "timeout=99999999999999999999" application/json "" '{}'
p bad-path         "a/../b/c/d" "%zz=%ff&&=" "text/plain" "" $'\xc3\x28'
p thumb-object     blueprints/SmartThumbnail/1.0.0 "" application/json "" '{"image":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==","width":"8","height":8.0,"format":"png"}'
p thumb-array      opencv/SmartThumbnail/0.1.14 "" application/json "" '["iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", 4, 4]'
p thumb-bytes-q    blueprints/SmartThumbnail "width=4&height=3&format=webp" application/octet-stream "" "$(cat "$I/rgb.bmp" | head -c 0)"
cat "$I/rgb.png" >> "$P/thumb-bytes-q"
p faces-bytes      blueprints/FaceDetection/1.0.0 "" "" "" ""
cat "$I/baseline.jpg" >> "$P/faces-bytes"
p faces-b64        blueprints/FaceDetection "" text/plain "" 'data:,R0lGODlhAQABAAAAACw='
p faces-scheme     blueprints/FaceDetection "" application/json "" '{"image":"s3://bucket/key.jpg"}'
p speech-object    blueprints/SpeechToText/1.0.0 "language=xx" application/json "" '{"url":"file:///etc/passwd","language":"de","initial_prompt":"names"}'
p speech-bytes     blueprints/SpeechToText "" application/octet-stream "" ""
cat "$M/hostile-4ghz.wav" >> "$P/speech-bytes"
p predict          blueprints/Predict/1.0.0 "" application/json "" '{"model":"diabetes","instances":[[0,0,0,0,0,0,0,0,0,0]]}'
p unknown-algo     nobody/Nothing/1.0.0 "" application/json "" '{}'

# --- Predict inputs: JSON bodies.
Q=$S/predict_input
q() { printf '%s' "$2" > "$Q/$1"; }
q named       '{"model":"toy/1.*","instances":[{"x":0.5,"n":2,"on":true,"extra":"ignored"}]}'
q positional  '{"model":"toy","instances":[[1.5,-3,false],[0,0,true]]}'
q mixed-bad   '{"model":"toy/1.0.0","instances":[{"x":"inf","n":2.5,"on":1},[1,2],null,"x"]}'
q huge        '{"model":"toy","instances":[[1e300,1e308,true],[-1.7976931348623157e308,9007199254740993,false]]}'
q describe    '{"model":"breast-cancer/1.1.0","describe":true}'
q describe-bad '{"model":"","describe":"yes","instances":[]}'
q empty-model '{"model":"   ","instances":[]}'
q not-object  '[{"model":"toy"}]'
q bad-version '{"model":"toy/abcdef1","instances":[]}'
q manifest    '{"name":"m","version":"1.0.0","kind":"classifier","features":[{"name":"a","type":"int"},{"name":"b","type":"bool"}],"labels":["x","y"],"onnx":{"file":"model.onnx"}}'

# --- URL and address classification: an IP, a URL, an --allow-fetch-host value (one line each).
F=$S/fetch_policy
f() { printf '%s\n%s\n%s' "$2" "$3" "$4" > "$F/$1"; }
f metadata      169.254.169.254 "http://169.254.169.254/latest/meta-data/" 169.254.169.254
f nat64         64:ff9b::a9fe:a9fe "http://[64:ff9b::a9fe:a9fe]/" "[64:ff9b::1]:80"
f compat        ::7f00:1 "https://[::127.0.0.1]:8443/x?X-Amz-Signature=secretsecret" "[::1]"
f sixtofour     2002:c0a8:0101::1 "http://[2002:c0a8:101::1]/" "127.0.0.1:8000"
f sitelocal     fec0::1 "HTTP://user:pw@LOCALHOST:99/a/../b?q#f" localhost
f public        93.184.216.34 "https://example.com/k.jpg?X-Amz-Credential=abc" example.com
f octal         0177.0.0.1 "http://0x7f.1/" "0x7f.1"
f bad           300.1.1.1 "http:// bad url" "http://x/"
f ftp           ::ffff:10.0.0.1 "ftp://10.0.0.1/x" "[fe80::1]x"
echo "seeds: $(find "$S" -type f | wc -l) files, $(du -sk "$S" | cut -f1) KB"
find "$S" -type f -size +8k -exec ls -l {} \;
