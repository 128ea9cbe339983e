"""Times faster-whisper on one clip: the reference for bench/speech.sh.

usage: faster_whisper_rtf.py MODEL_DIR MEDIA THREADS [COMPUTE_TYPE]
Prints one JSON line: {"seconds", "duration", "rtf", "text", "compute_type"}. Decoding
the media is timed too, as it is for algo-speech. COMPUTE_TYPE defaults to "default"
(the saved float16 weights, which CTranslate2 runs as float32 on CPU).
"""
import json
import sys
import time

from faster_whisper import WhisperModel


def main() -> None:
    model_dir, media, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    compute_type = sys.argv[4] if len(sys.argv) > 4 else "default"
    model = WhisperModel(model_dir, device="cpu", compute_type=compute_type,
                         cpu_threads=threads, num_workers=1)
    start = time.perf_counter()
    # Greedy decoding with temperature fallback, no VAD, each 30 s window prompted with the
    # text decoded before it (the last 223 tokens, dropped above temperature 0.5): what
    # algo-speech does. whisper.cpp carries that text between the windows of one call
    # (up to 224 tokens, same temperature cut-off); its `no_context` only drops text left
    # from an earlier call on the same state.
    segments, info = model.transcribe(media, language="en", beam_size=1, best_of=1,
                                      condition_on_previous_text=True,
                                      vad_filter=False, without_timestamps=False)
    text = " ".join(segment.text.strip() for segment in segments)  # runs the decoder
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "duration": info.duration,
                      "rtf": seconds / info.duration, "text": text,
                      "compute_type": model.model.compute_type}))


if __name__ == "__main__":
    main()
