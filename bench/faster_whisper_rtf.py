"""Times faster-whisper on one clip: the reference for bench/speech.sh.

usage: faster_whisper_rtf.py MODEL_DIR MEDIA THREADS
Prints one JSON line: {"seconds", "duration", "rtf", "text"}. Decoding the media is
timed too, as it is for algo-speech.
"""
import json
import sys
import time

from faster_whisper import WhisperModel


def main() -> None:
    model_dir, media, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    model = WhisperModel(model_dir, device="cpu", compute_type="default",
                         cpu_threads=threads, num_workers=1)
    start = time.perf_counter()
    # Greedy decoding with temperature fallback, no text carried between windows, no VAD:
    # what algo-speech does (whisper.cpp's defaults plus no_context).
    segments, info = model.transcribe(media, language="en", beam_size=1, best_of=1,
                                      condition_on_previous_text=False,
                                      vad_filter=False, without_timestamps=False)
    text = " ".join(segment.text.strip() for segment in segments)  # runs the decoder
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "duration": info.duration,
                      "rtf": seconds / info.duration, "text": text}))


if __name__ == "__main__":
    main()
