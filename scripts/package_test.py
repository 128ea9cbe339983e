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
  blueprint-template  events/sqs-batch.json        an answer with an empty batchItemFailures

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
FUNCTIONS = ("s3-thumbnail", "s3-transcribe", "dynamodb-predict", "blueprint-template")

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


def main():
    began_all = time.time()
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)

    wanted = sys.argv[1:] or list(FUNCTIONS)
    unknown = [f for f in wanted if f not in FUNCTIONS]
    if unknown:
        fail(f"no test for {unknown}; known: {', '.join(FUNCTIONS)}")
    if not shutil.which(QEMU):
        fail(f"{QEMU} not found: apt-get install qemu-user (scripts/package-test.sh does)")
    if not (Path(QEMU_LD_PREFIX) / "lib" / "ld-linux-aarch64.so.1").exists():
        fail(f"{QEMU_LD_PREFIX}/lib/ld-linux-aarch64.so.1 missing: apt-get install libc6-arm64-cross")

    # Functions the templates name that this test has no event for (a blueprint copied
    # from _template, say): make package builds them, but nothing here boots them.
    named = {m.group(1) for t in sorted(ROOT.glob("*/*/template.yaml"))
             for m in re.finditer(r"^\s*Binary:\s*([A-Za-z0-9_-]+)", t.read_text(), re.M)}
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
    s3, kms, ddb = (boto3.client(s, **aws) for s in ("s3", "kms", "dynamodb"))
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

    def prepare_template():
        event = json.loads((ROOT / "blueprints/_template/events/sqs-batch.json").read_text())
        env = {"ALGORITHM": "blueprints/Echo/1.0.0"}

        def check():
            return []  # the response itself is the output
        return event, env, check

    prepares = {"s3-thumbnail": prepare_thumbnail, "s3-transcribe": prepare_transcribe,
                "dynamodb-predict": prepare_predict, "blueprint-template": prepare_template}

    results = []
    for function in wanted:
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
