"""`make package-test`: the arm64 packages booted as Lambda boots them.

For each function `make package` built, unpacks `bootstrap` from its bootstrap.zip
(what Lambda receives) and starts it under `qemu-aarch64 -L /usr/aarch64-linux-gnu`
against cargo-lambda's Runtime API emulator (`cargo lambda watch --only-lambda-apis`),
with moto (S3, KMS, DynamoDB) and a running x86_64 `algo-server`. Each function gets
one event from its blueprint's `events/` folder, adapted to the moto resources made
here, and passes only if it writes its real output:

  s3-thumbnail        events/put-with-space.json   both thumbnails, JPEGs of the right size
  s3-transcribe       events/put-video.json        transcript .json/.txt/.vtt/.srt with the words
  dynamodb-predict    events/stream-batch.json     a prediction on each item, equal to algo-server's
  kinesis-predict     events/stream-batch.json     one enriched record per input on the output
                                                   stream, predictions equal to algo-server's
  blueprint-template  events/sqs-batch.json        an answer with an empty batchItemFailures
  algo-server-lambda  one Function URL event (payload format 2.0) per algorithm, with
                      the models layer (layer.zip, extracted here as Lambda does under
                      /opt) named by ALGO_SERVER_MODELS_DIR and WHISPER_MODEL: Echo, the
                      astronaut's face, a 200x200 PNG thumbnail, one written to a
                      data:// URI (ALGO_SERVER_DATA_S3_BUCKET, a moto bucket, as the
                      template's DataBucket), the spoken words, and predictions equal to
                      the x86_64 algo-server's

qemu-user before 8.1 shows arm64 programs the host's /proc/cpuinfo, on which ONNX
Runtime's CPU detection crashes (a real arm64 host shows its own): where `unshare -m`
is allowed (root), algo-server-lambda runs with an arm64 /proc/cpuinfo bound over it;
elsewhere its Predict check is skipped, with a warning, and ONNX Runtime left unloaded.

The API key travels KMS-encrypted (the console's encryption context), so the arm64
binaries also decrypt with moto's KMS. Every process started here is stopped by PID
(its process group) on success, failure or Ctrl-C. Logs: .cache/package-test/.
"""

import base64
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".cache" / "package-test"
VENV_BIN = ROOT / ".venv" / "bin"
HOME_CACHE = Path.home() / ".cache" / "aws-ml-blueprints"
ARM64_TARGET = Path(os.environ.get("PACKAGE_TARGET_DIR", HOME_CACHE / "target-arm64"))
DEBUG_TARGET = Path(os.environ.get("CARGO_TARGET_DIR", HOME_CACHE / "target"))
QEMU = os.environ.get("QEMU_AARCH64", "qemu-aarch64")
QEMU_LD_PREFIX = os.environ.get("QEMU_LD_PREFIX", "/usr/aarch64-linux-gnu")
API_KEY = "simPackageTestKey0123"
REGION = "us-east-1"
INVOKE_TIMEOUT = int(os.environ.get("PACKAGE_TEST_TIMEOUT", "300"))
FUNCTIONS = ("s3-thumbnail", "s3-transcribe", "dynamodb-predict", "kinesis-predict",
             "blueprint-template", "algo-server-lambda")
SERVER_FUNCTION = "algo-server-lambda"
LAYER = ARM64_TARGET / "lambda" / "algo-server-models" / "layer.zip"
# What a Graviton2 (Neoverse N1) Lambda host's /proc/cpuinfo says, per CPU.
ARM64_CPUINFO = """processor\t: {n}
BogoMIPS\t: 243.75
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x3
CPU part\t: 0xd0c
CPU revision\t: 1

"""

started = []  # (name, Popen), stopped in reverse order
timings = []  # (what, seconds)


def say(message):
    print(f"==> [package-test] {message}", flush=True)


def fail(message):
    raise SystemExit(f"!! [package-test] FAILED: {message}")


def timed(what, began):
    seconds = time.time() - began
    timings.append((what, seconds))
    return seconds


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, name, proc, seconds=60):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            fail(f"{name} exited at start (code {proc.returncode}); see {OUT / (name + '.log')}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    fail(f"{name} did not listen on 127.0.0.1:{port} within {seconds} s")


def start(name, args, env=None):
    log = open(OUT / f"{name}.log", "w")
    proc = subprocess.Popen(
        [str(a) for a in args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    started.append((name, proc))
    say(f"started {name} (pid {proc.pid}, log {OUT.relative_to(ROOT)}/{name}.log)")
    return proc


def stop(name, proc):
    if proc.poll() is None:
        # Each child leads its own process group (qemu, cargo lambda watch and their
        # children go with it).
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                pass
        say(f"stopped {name} (pid {proc.pid})")


def stop_all():
    for name, proc in reversed(started):
        stop(name, proc)
    started.clear()


def tail(name, lines=25):
    try:
        text = (OUT / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# ----------------------------------------------------------------- the packages

def unpack(function):
    """bootstrap from the function's bootstrap.zip, as Lambda unpacks it."""
    archive = ARM64_TARGET / "lambda" / function / "bootstrap.zip"
    if not archive.is_file():
        fail(f"{archive} is missing: run `make package` first")
    dest = OUT / "packages" / function
    dest.mkdir(parents=True)
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("bootstrap")
        mode = info.external_attr >> 16
        if not mode & stat.S_IXUSR:
            fail(f"{archive}: bootstrap is not executable in the zip (mode {oct(mode)})")
        z.extract(info, dest)
    path = dest / "bootstrap"
    path.chmod(mode & 0o777)
    head = path.read_bytes()[:20]
    if head[:4] != b"\x7fELF" or int.from_bytes(head[18:20], "little") != 183:
        fail(f"{archive}: bootstrap is not an AArch64 ELF")
    return path, archive.stat().st_size


def function_env(function, runtime, endpoint, server_url, ciphertext, extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "ALGORITHMIA_", "RUST_LOG", "CARGO_", "QEMU_"))}
    env.update({
        # qemu-user: the arm64 C library and dynamic loader come from here.
        "QEMU_LD_PREFIX": QEMU_LD_PREFIX,
        "AWS_LAMBDA_RUNTIME_API": f"{runtime}/.rt/{function}",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "package-test",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
        "ALGORITHMIA_API": server_url,
        "ALGORITHMIA_API_KEY_KMS": ciphertext,
        "RUST_LOG": "info",
        # As the templates' LoggingConfig (LogFormat: JSON) makes Lambda set it.
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
    })
    env.update(extra)
    return env


def invoke(runtime, function, event):
    request = urllib.request.Request(
        f"{runtime}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(event).encode(), headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT) as reply:
            return reply.status, reply.read().decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def outcomes(reply):
    """A function's answer in short: each record's outcome, or the JSON itself."""
    try:
        answer = json.loads(reply)
    except ValueError:
        return reply[:300]
    if isinstance(answer, dict) and isinstance(answer.get("records"), list):
        return "; ".join(f"{r.get('outcome')}" + (f" ({r['reason']})" if r.get("reason") else "")
                         for r in answer["records"])
    return json.dumps(answer)[:300]


# ----------------------------------------------------------------- output checks

def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    return None


def s3_event(path, bucket, key, body, etag):
    """The sample S3 event, pointed at the object uploaded here (key form-URL-encoded,
    as S3 sends it)."""
    event = json.loads(path.read_text())
    obj = event["Records"][0]["s3"]
    obj["bucket"]["name"] = bucket
    obj["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    obj["object"]["key"] = urllib.parse.quote_plus(key, safe="/")
    obj["object"]["size"] = len(body)
    obj["object"]["eTag"] = etag
    event["Records"] = event["Records"][:1]
    return event


# ----------------------------------------------------------------- algo-server-lambda

def unpack_layer():
    """layer.zip extracted as Lambda extracts a layer under /opt; returns that folder."""
    if not LAYER.is_file():
        fail(f"{LAYER} is missing: run `make package` first (scripts/package-models.sh)")
    opt = OUT / "opt"
    with zipfile.ZipFile(LAYER) as z:
        z.extractall(opt)
    for must in ("models/ggml-tiny.en-q8_0.bin", "models/onnxruntime/libonnxruntime.so"):
        if not (opt / must).is_file():
            fail(f"{LAYER} holds no {must}")
    return opt


def arm64_cpuinfo_wrapper():
    """A command prefix that runs a program with an arm64 /proc/cpuinfo bound over the
    host's, in a mount namespace of its own; None where that is not allowed."""
    fake = OUT / "cpuinfo-arm64"
    fake.write_text("".join(ARM64_CPUINFO.format(n=n) for n in range(os.cpu_count() or 1)))
    prefix = ["unshare", "-m", "sh", "-c", 'mount --bind "$0" /proc/cpuinfo && exec "$@"', str(fake)]
    if not shutil.which("unshare"):
        return None
    probe = subprocess.run(prefix + ["grep", "-q", "0xd0c", "/proc/cpuinfo"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return prefix if probe.returncode == 0 else None


def url_event(path, body, content_type, binary=False):
    """A Lambda Function URL event (payload format 2.0) for POST {path}."""
    host = "abcdefghij.lambda-url.us-east-1.on.aws"
    now = time.time()
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": content_type, "authorization": f"Simple {API_KEY}",
                    "host": host, "user-agent": "package-test", "x-forwarded-proto": "https",
                    "x-forwarded-for": "127.0.0.1"},
        "requestContext": {
            "accountId": "anonymous", "apiId": host.split(".")[0], "domainName": host,
            "domainPrefix": host.split(".")[0],
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "package-test"},
            "requestId": f"package-test-{int(now * 1000)}", "routeKey": "$default",
            "stage": "$default", "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body).decode() if binary else body.decode(),
        "isBase64Encoded": binary,
    }


def url_reply(reply):
    """(HTTP status, the Algorithmia JSON) of a Function URL response."""
    response = json.loads(reply)
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        body = base64.b64decode(body).decode(errors="replace")
    return response.get("statusCode"), json.loads(body) if body else None


def png_size(data):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def iou(a, b):
    ax, ay, aw, ah = (float(a[k]) for k in ("x", "y", "width", "height"))
    bx, by, bw, bh = (float(b[k]) for k in ("x", "y", "width", "height"))
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = w * h
    return inter / (aw * ah + bw * bh - inter) if inter else 0.0


def server_cases(algo, with_onnx, s3, data_bucket):
    """(name, event, check(result) -> list of lines or an error string) per algorithm,
    and a Data API write that lands in the template's S3 data bucket (here moto's)."""
    base = "/v1/algo/blueprints"
    astronaut = (ROOT / "fixtures/images/astronaut.jpg").read_bytes()
    expected_face = json.loads((ROOT / "fixtures/images/faces.json").read_text())["astronaut.jpg"]
    expected_face = (expected_face.get("faces", expected_face) if isinstance(expected_face, dict)
                     else expected_face)[0]
    cases = []

    echo_in = {"package-test": [1, 2, 3], "text": "héllo"}

    def echo(result):
        return [f"Echo: {json.dumps(result)}"] if result == echo_in else f"Echo answered {result!r}"
    cases.append(("Echo", url_event(f"{base}/Echo/1.0.0", json.dumps(echo_in).encode(),
                                    "application/json"), echo))

    def faces(result):
        found = result.get("faces") or []
        best = max((iou(f, expected_face) for f in found), default=0.0)
        if best < 0.5:
            return f"no face near {expected_face}: {found}"
        return [f"FaceDetection: {len(found)} face(s), IoU {best:.2f} with faces.json"]
    cases.append(("FaceDetection", url_event(f"{base}/FaceDetection/1.0.0", astronaut,
                                             "application/octet-stream", binary=True), faces))

    def thumbnail(result):
        data = base64.b64decode(result) if isinstance(result, str) else b""
        if png_size(data) != (200, 200):
            return f"SmartThumbnail: not a 200x200 PNG ({png_size(data)})"
        return [f"SmartThumbnail: 200x200 PNG, {len(data)} bytes"]
    cases.append(("SmartThumbnail", url_event(
        f"{base}/SmartThumbnail/1.0.0",
        json.dumps({"image": base64.b64encode(astronaut).decode(), "width": 200,
                    "height": 200, "format": "png"}).encode(), "application/json"), thumbnail))

    def speech(result):
        text = (result.get("text") or "") if isinstance(result, dict) else ""
        missing = [w for w in ("morning", "speech", "recognition") if w not in text.lower()]
        return f"SpeechToText: {missing} missing from {text!r}" if missing else [f"SpeechToText: {text.strip()!r}"]
    cases.append(("SpeechToText", url_event(
        f"{base}/SpeechToText/1.0.0", (ROOT / "fixtures/generated/speech.wav").read_bytes(),
        "application/octet-stream", binary=True), speech))

    stored = "data://.my/package-test/astronaut.png"

    def stored_thumbnail(result):
        if result != stored:
            return f"SmartThumbnail to {stored} answered {result!r}"
        key = "files/default/package-test/astronaut.png"
        try:
            data = s3.get_object(Bucket=data_bucket, Key=key)["Body"].read()
        except Exception as e:  # noqa: BLE001 - reported as the failure
            return f"no s3://{data_bucket}/{key}: {e}"
        if png_size(data) != (96, 96):
            return f"s3://{data_bucket}/{key} is not a 96x96 PNG ({png_size(data)})"
        return [f"SmartThumbnail -> {stored}: 96x96 PNG in s3://{data_bucket}/{key}"]
    cases.append(("SmartThumbnail to data://", url_event(
        f"{base}/SmartThumbnail/1.0.0",
        json.dumps({"image": base64.b64encode(astronaut).decode(), "width": 96,
                    "height": 96, "format": "png", "output": stored}).encode(),
        "application/json"), stored_thumbnail))

    if with_onnx:
        model = "diabetes/1.0.0"
        manifest = json.loads((ROOT / f"models/predict/{model}/manifest.json").read_text())
        rows = [{f["name"]: 0.01 * (i + 1) * (-1) ** j for j, f in enumerate(manifest["features"])}
                for i in range(3)]
        request = {"model": model, "instances": rows}

        def predict(result):
            reference = algo("blueprints/Predict/1.0.0", request)
            if "error" in reference:
                return f"the x86_64 algo-server's own Predict call failed: {reference['error']}"
            got = [p["value"] for p in result.get("predictions", [])]
            want = [p["value"] for p in reference["result"]["predictions"]]
            if len(got) != len(want) or any(abs(g - w) > 1e-4 * max(1.0, abs(w)) for g, w in zip(got, want)):
                return f"Predict: {got}, the x86_64 algo-server says {want}"
            return [f"Predict: {model} {[round(g, 3) for g in got]}, equal to the x86_64 algo-server's"]
        cases.append(("Predict", url_event(f"{base}/Predict/1.0.0", json.dumps(request).encode(),
                                           "application/json"), predict))
    return cases


def run_server_function(runtime, endpoint, server_url, bootstrap, algo):
    """algo-server-lambda: one Function URL event per algorithm on one warm process."""
    function = SERVER_FUNCTION
    opt = unpack_layer()
    models = opt / "models"
    wrapper = arm64_cpuinfo_wrapper()
    # The template gives the function a data bucket (ALGO_SERVER_DATA_S3_BUCKET).
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION,
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    data_bucket = "package-test-data"
    s3.create_bucket(Bucket=data_bucket)
    extra = {"ALGO_SERVER_MODELS_DIR": str(models),
             "WHISPER_MODEL": str(models / "ggml-tiny.en-q8_0.bin"),
             "ALGO_SERVER_API_KEYS": API_KEY,
             "ALGO_SERVER_DATA_S3_BUCKET": data_bucket}
    if wrapper is None:
        say(f"WARNING: {function}: cannot bind an arm64 /proc/cpuinfo (`unshare -m` refused): "
            f"ONNX Runtime left unloaded under qemu and the Predict check skipped")
        extra["ORT_DYLIB_PATH"] = str(OUT / "no-onnxruntime-under-this-qemu.so")
    else:
        # The layer's 8-bit RetinaFace graph must load under arm64 ONNX Runtime: no
        # silent fallback to SeetaFace here.
        extra["ALGO_SERVER_FACE_DETECTOR"] = "retinaface"
    env = function_env(function, runtime, endpoint, server_url, "", extra)
    env.pop("ALGORITHMIA_API_KEY_KMS", None)
    say(f"{function}: layer {LAYER.name} extracted to {opt.relative_to(ROOT)}, its bootstrap under {QEMU}"
        + (" with an arm64 /proc/cpuinfo" if wrapper else ""))
    began = time.time()
    proc = start(function, (wrapper or []) + [QEMU, "-L", QEMU_LD_PREFIX, bootstrap], env=env)
    lines, first = [], None
    for name, event, check in server_cases(algo, wrapper is not None, s3, data_bucket):
        t0 = time.time()
        status, reply = invoke(runtime, function, event)
        seconds = timed(f"{function}: {name}", t0)
        if first is None:
            first = timed(f"{function}: exec -> first response", began)
        if proc.poll() is not None:
            fail(f"{function} exited during {name} (code {proc.returncode}):\n{tail(function)}")
        if status != 200:
            fail(f"{function} {name}: invoke answered HTTP {status}: {reply[:2000]}\n{tail(function)}")
        try:
            http, answer = url_reply(reply)
        except (ValueError, TypeError) as e:
            fail(f"{function} {name}: not a Function URL response ({e}): {reply[:2000]}\n{tail(function)}")
        if http != 200 or not isinstance(answer, dict) or "error" in answer:
            fail(f"{function} {name}: HTTP {http}: {json.dumps(answer)[:2000]}\n{tail(function)}")
        outcome = check(answer.get("result"))
        if not isinstance(outcome, list):
            fail(f"{function} {name}: {outcome}\n{tail(function)}")
        lines += [f"{line} ({seconds:.2f} s under qemu)" for line in outcome]
    stop(function, proc)
    started.remove((function, proc))
    say(f"{function}: PASS, exec -> first response {first:.2f} s")
    for line in lines:
        print(f"      {line}")
    return function, first, timings[-1][1]


def main():
    began_all = time.time()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    named = {m.group(1) for t in sorted(ROOT.glob("*/*/template.yaml"))
             for m in re.finditer(r"^\s*Binary:\s*([A-Za-z0-9_-]+)", t.read_text(), re.M)}
    # algo-server-lambda by default once a template names it (make package builds it then).
    wanted = sys.argv[1:] or [f for f in FUNCTIONS if f != SERVER_FUNCTION or f in named]
    unknown = [f for f in wanted if f not in FUNCTIONS]
    if unknown:
        fail(f"no test for {unknown}; known: {', '.join(FUNCTIONS)}")
    if not shutil.which(QEMU):
        fail(f"{QEMU} not found: apt-get install qemu-user (scripts/package-test.sh does)")
    if not (Path(QEMU_LD_PREFIX) / "lib" / "ld-linux-aarch64.so.1").exists():
        fail(f"{QEMU_LD_PREFIX}/lib/ld-linux-aarch64.so.1 missing: apt-get install libc6-arm64-cross")

    # Functions the templates name that this test has no event for (a blueprint copied
    # from _template, say): make package builds them, but nothing here boots them.
    untested = sorted(named - set(FUNCTIONS))
    if untested:
        say(f"WARNING: no package test for {', '.join(untested)}: add an event and a check "
            f"to scripts/package_test.py (prepares)")
    say(f"unpacking {', '.join(wanted)} from {ARM64_TARGET}/lambda/<function>/bootstrap.zip")
    bootstraps = {f: unpack(f)[0] for f in wanted}

    algo_server = DEBUG_TARGET / "debug" / "algo-server"
    if not algo_server.exists():
        say(f"{algo_server} missing: cargo build -p algo-server (x86_64, debug)")
        subprocess.run(["cargo", "build", "-p", "algo-server"], cwd=ROOT, check=True,
                       env={**os.environ, "CARGO_TARGET_DIR": str(DEBUG_TARGET)})

    began = time.time()
    moto_port, algo_port, runtime_port = free_port(), free_port(), free_port()
    moto = start("moto", [VENV_BIN / "moto_server", "-H", "127.0.0.1", "-p", moto_port])
    wait_port(moto_port, "moto", moto)
    endpoint = f"http://127.0.0.1:{moto_port}"
    server_url = f"http://127.0.0.1:{algo_port}"
    # As scripts/demo.py starts it: models/ from `make models`, presigned moto URLs allowed.
    server = start("algo-server", [algo_server, "--listen", f"127.0.0.1:{algo_port}",
                                   "--api-key", API_KEY, "--allow-fetch-host", "127.0.0.1",
                                   "--models-dir", "models"])
    wait_port(algo_port, "algo-server", server)
    watch = start(
        "cargo-lambda-watch",
        [VENV_BIN / "cargo-lambda", "lambda", "watch", "--only-lambda-apis",
         "--invoke-address", "127.0.0.1", "--invoke-port", runtime_port],
        env={**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"},
    )
    wait_port(runtime_port, "cargo-lambda-watch", watch)
    runtime = f"http://127.0.0.1:{runtime_port}"
    say(f"moto, algo-server and the Runtime API emulator up in {timed('services up', began):.1f} s")

    aws = dict(endpoint_url=endpoint, region_name=REGION,
               aws_access_key_id="testing", aws_secret_access_key="testing")
    s3, kms, ddb, kinesis = (boto3.client(s, **aws)
                             for s in ("s3", "kms", "dynamodb", "kinesis"))
    key_id = kms.create_key(Description="package-test Algorithmia key")["KeyMetadata"]["KeyId"]

    def ciphertext(function):
        # Encrypted as the Lambda console's helpers do: with the function's name as context.
        blob = kms.encrypt(KeyId=key_id, Plaintext=API_KEY.encode(),
                           EncryptionContext={"LambdaFunctionName": function})["CiphertextBlob"]
        return base64.b64encode(blob).decode()

    def algo(path, body):
        request = urllib.request.Request(
            f"{server_url}/v1/algo/{path}", data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Simple {API_KEY}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            return json.load(reply)

    # ---- per function: resources, its event, and the check of what it wrote
    def prepare_thumbnail():
        bucket, key = "package-test-images", "uploads/team photo.jpg"
        body = (ROOT / "fixtures/images/astronaut.jpg").read_bytes()
        s3.create_bucket(Bucket=bucket)
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="image/jpeg")["ETag"].strip('"')
        event = s3_event(ROOT / "blueprints/s3-thumbnail/events/put-with-space.json", bucket, key, body, etag)
        sizes = ((200, 200), (640, 360))
        env = {"THUMBNAIL_SIZES": ",".join(f"{w}x{h}" for w, h in sizes), "OUTPUT_PREFIX": "thumbnails/"}

        def check():
            found = []
            for w, h in sizes:
                out = f"thumbnails/{w}x{h}/{key}"
                try:
                    obj = s3.get_object(Bucket=bucket, Key=out)
                except s3.exceptions.NoSuchKey:
                    return f"no s3://{bucket}/{out}"
                data = obj["Body"].read()
                got = jpeg_size(data)
                # W:H cropped around the face; never upscaled (the photo is 512x512, so
                # 640x360 comes back as 512x288).
                if not got or got[0] > w or got[1] > h or abs(got[0] * h - got[1] * w) > max(w, h):
                    return f"s3://{bucket}/{out} is not a {w}x{h} (or smaller, same shape) JPEG: {got}"
                if obj["Metadata"].get("source-etag") != etag:
                    return f"s3://{bucket}/{out} lacks source-etag {etag}: {obj['Metadata']}"
                found.append(f"s3://{bucket}/{out} ({len(data)} bytes, {got[0]}x{got[1]} JPEG)")
            return found
        return event, env, check

    def prepare_transcribe():
        bucket, key = "package-test-media", "media/team meeting (2026).mp4"
        body = (ROOT / "fixtures/generated/speech.mp4").read_bytes()
        s3.create_bucket(Bucket=bucket)
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="video/mp4")["ETag"].strip('"')
        event = s3_event(ROOT / "blueprints/s3-transcribe/events/put-video.json", bucket, key, body, etag)
        env = {"OUTPUT_PREFIX": "transcripts/", "TRANSCRIBE_MODE": "auto"}

        def check():
            texts = {}
            for ext in ("json", "txt", "vtt", "srt"):
                out = f"transcripts/{key}.{ext}"
                try:
                    texts[ext] = s3.get_object(Bucket=bucket, Key=out)["Body"].read().decode()
                except s3.exceptions.NoSuchKey:
                    return f"no s3://{bucket}/{out}"
            json.loads(texts["json"])
            if not texts["vtt"].startswith("WEBVTT") or "-->" not in texts["srt"]:
                return "the .vtt or .srt is not a caption file"
            words = [w for w in ("morning", "speech", "recognition") if w not in texts["txt"].lower()]
            if words:
                return f"{words} missing from the transcript {texts['txt']!r}"
            return [f"s3://{bucket}/transcripts/{key}.{{json,txt,vtt,srt}}",
                    f"text: {texts['txt'].strip()!r}"]
        return event, env, check

    def prepare_predict():
        event = json.loads((ROOT / "blueprints/dynamodb-predict/events/stream-batch.json").read_text())
        model = "diabetes/1.0.0"
        manifest = json.loads((ROOT / f"models/predict/{model}/manifest.json").read_text())
        features = [f["name"] for f in manifest["features"]]
        table = "package-test-patients"
        created = ddb.create_table(
            TableName=table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
        stream_arn = created["TableDescription"]["LatestStreamArn"]
        expected = {}
        for record in event["Records"]:
            record["eventSourceARN"] = stream_arn
            image = record["dynamodb"].get("NewImage")
            if record["eventName"] in ("INSERT", "MODIFY") and image:
                # The item as the record says it now is (the table the stream came from).
                ddb.put_item(TableName=table, Item=image)
                expected[image["id"]["S"]] = {f: float(image[f]["N"]) for f in features}
        env = {"MODEL": model, "FEATURES": ",".join(features), "PREDICTION_ATTRIBUTE": "prediction"}

        def check():
            ids = sorted(expected)
            reference = algo("blueprints/Predict/1.0.0",
                             {"model": model, "instances": [expected[i] for i in ids]})
            if "error" in reference:
                return f"algo-server's own Predict call failed: {reference['error']}"
            found = []
            for item_id, want in zip(ids, reference["result"]["predictions"]):
                item = ddb.get_item(TableName=table, Key={"id": {"S": item_id}},
                                    ConsistentRead=True).get("Item", {})
                p = item.get("prediction", {}).get("M")
                if not p:
                    return f"item {item_id} has no prediction: {item}"
                value = float(p["value"]["N"])
                if abs(value - want["value"]) > 1e-6 * max(1.0, abs(want["value"])):
                    return f"item {item_id}: prediction {value}, algo-server says {want['value']}"
                found.append(f"{table} {item_id}: prediction {value:.4f} ({p['model']['S']}), "
                             f"equal to algo-server's direct answer")
            return found
        return event, env, check

    def prepare_kinesis():
        event = json.loads((ROOT / "blueprints/kinesis-predict/events/stream-batch.json").read_text())
        model = "breast-cancer/1.0.0"
        manifest = json.loads((ROOT / f"models/predict/{model}/manifest.json").read_text())
        features = [f["name"] for f in manifest["features"]]
        for name in ("package-test-measurements", "package-test-predictions"):
            kinesis.create_stream(StreamName=name, ShardCount=1)
        source = kinesis.describe_stream_summary(StreamName="package-test-measurements")[
            "StreamDescriptionSummary"]["StreamARN"]
        inputs = {}
        for record in event["Records"]:
            record["eventSourceARN"] = source
            # JSON, or base64 JSON inside; the sample's last record is not JSON at all
            # (dropped with a log line): it has no output.
            raw = base64.b64decode(record["kinesis"]["data"])
            for attempt in (raw, None):
                try:
                    data = json.loads(attempt if attempt is not None else base64.b64decode(raw))
                    break
                except ValueError:
                    data = None
            if data is not None:
                inputs[record["kinesis"]["sequenceNumber"]] = {f: float(data[f]) for f in features}
        env = {"MODEL": model, "FEATURES": ",".join(features),
               "OUTPUT_STREAM": "package-test-predictions"}

        def check():
            shard = kinesis.list_shards(StreamName="package-test-predictions")["Shards"][0]["ShardId"]
            iterator = kinesis.get_shard_iterator(
                StreamName="package-test-predictions", ShardId=shard,
                ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            written = [json.loads(r["Data"])
                       for r in kinesis.get_records(ShardIterator=iterator)["Records"]]
            if len(written) < len(inputs):
                return f"{len(written)} records on the output stream, {len(inputs)} expected"
            sequences = list(inputs)
            reference = algo("blueprints/Predict/1.0.0",
                             {"model": model, "instances": [inputs[q] for q in sequences]})
            if "error" in reference:
                return f"algo-server's own Predict call failed: {reference['error']}"
            found = []
            for sequence, want in zip(sequences, reference["result"]["predictions"]):
                outs = [o for o in written if sequence in json.dumps(o)]
                if len(outs) != 1:
                    return f"{len(outs)} output records for source sequence {sequence}"
                got = outs[0]["prediction"]
                if got.get("label") != want.get("label") or abs(got.get("score", 0) - want.get("score", 0)) > 1e-5:
                    return f"sequence {sequence}: {got}, algo-server says {want}"
                found.append(f"package-test-predictions: {sequence[-6:]} -> {got.get('label')} "
                             f"({got.get('score', 0):.4f}), equal to algo-server's direct answer")
            return found
        return event, env, check

    def prepare_template():
        event = json.loads((ROOT / "blueprints/_template/events/sqs-batch.json").read_text())
        env = {"ALGORITHM": "blueprints/Echo/1.0.0"}

        def check():
            return []  # the response itself is the output
        return event, env, check

    prepares = {"s3-thumbnail": prepare_thumbnail, "s3-transcribe": prepare_transcribe,
                "dynamodb-predict": prepare_predict, "kinesis-predict": prepare_kinesis,
                "blueprint-template": prepare_template}

    results = []
    for function in wanted:
        if function == SERVER_FUNCTION:
            results.append(run_server_function(runtime, endpoint, server_url, bootstraps[function], algo))
            continue
        say(f"{function}: resources in moto, then its bootstrap under {QEMU} -L {QEMU_LD_PREFIX}")
        event, extra, check = prepares[function]()
        env = function_env(function, runtime, endpoint, server_url, ciphertext(function), extra)
        began = time.time()
        proc = start(function, [QEMU, "-L", QEMU_LD_PREFIX, bootstraps[function]], env=env)
        status, reply = invoke(runtime, function, event)
        first = timed(f"{function}: exec -> first response", began)
        if proc.poll() is not None:
            fail(f"{function} exited (code {proc.returncode}):\n{tail(function)}")
        try:
            response = json.loads(reply)
        except ValueError:
            response = None
        if status != 200 or not isinstance(response, dict) or "errorType" in response or "errorMessage" in response:
            fail(f"{function} answered HTTP {status}: {reply[:2000]}\n--- its log ---\n{tail(function)}")
        if "batchItemFailures" in response and response["batchItemFailures"] != []:
            fail(f"{function}: batchItemFailures not empty: {reply}\n--- its log ---\n{tail(function)}")
        if any(r.get("outcome") != "done" for r in response.get("records", [])):
            fail(f"{function}: a record not done: {reply}\n--- its log ---\n{tail(function)}")
        if function == "blueprint-template":
            if response.get("batchItemFailures") != []:
                fail(f"blueprint-template: no empty batchItemFailures in {reply}")
            outputs = []
        else:
            outputs = None
            deadline = time.time() + 30
            while True:
                outputs = check()
                if isinstance(outputs, list) or time.time() > deadline:
                    break
                time.sleep(0.5)
            if not isinstance(outputs, list):
                fail(f"{function}: {outputs}\nits response: {reply[:2000]}\n--- its log ---\n{tail(function)}")
        # A second event on the warm process: the runtime loop goes on under qemu too.
        began = time.time()
        status, reply2 = invoke(runtime, function, event)
        warm = timed(f"{function}: warm invocation (same event again)", began)
        if status != 200 or "errorType" in reply2:
            fail(f"{function}: second invocation answered HTTP {status}: {reply2[:2000]}\n{tail(function)}")
        stop(function, proc)
        started.remove((function, proc))
        say(f"{function}: PASS, exec -> first response {first:.2f} s, warm repeat {warm:.2f} s")
        for line in outputs:
            print(f"      {line}")
        print(f"      first answer: {outcomes(reply)}")
        print(f"      repeat answer: {outcomes(reply2)}")
        results.append((function, first, warm))

    stop_all()
    total = timed("total", began_all)
    print()
    print("| function | exec -> first response (cold, qemu) | warm repeat | result |")
    print("|---|---|---|---|")
    for function, first, warm in results:
        print(f"| {function} | {first:.2f} s | {warm:.2f} s | PASS |")
    print()
    say(f"all {len(results)} arm64 functions wrote their outputs; {total:.0f} s in all "
        f"(services up {timings[0][1]:.1f} s)")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    finally:
        stop_all()
