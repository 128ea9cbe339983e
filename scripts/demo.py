"""`make demo`: every blueprint end to end on this machine.

Starts moto, algo-server, `cargo lambda watch` (the Lambda Runtime API emulator,
running the real bootstrap binaries) and local-trigger (S3 notifications via SQS,
DynamoDB and Kinesis stream records -> invocations); creates the buckets, queues,
table and streams; drops in a face photo, a spoken video, a few table items and a few
Kinesis records; waits for the results,
copies them to demo-out/ and prints a summary. Everything it starts is stopped by
PID on success, failure or Ctrl-C.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-out"
VENV_BIN = ROOT / ".venv" / "bin"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
API_KEY = "simDemoKey0123456789"
REGION = "us-east-1"
FUNCTIONS = ("s3-thumbnail", "s3-transcribe", "dynamodb-predict", "kinesis-predict")
MODEL = "breast-cancer/1.0.0"
WAIT_SECONDS = int(os.environ.get("DEMO_WAIT_SECONDS", "900"))

started = []  # (name, Popen), stopped in reverse order


def say(message):
    print(f"==> [demo] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, name, proc, seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"demo: {name} exited at start (code {proc.returncode}); see {OUT / (name + '.log')}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"demo: {name} did not listen on 127.0.0.1:{port} within {seconds} s")


def start(name, args, env=None):
    log = open(OUT / f"{name}.log", "w")
    proc = subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    started.append((name, proc))
    say(f"started {name} (pid {proc.pid}, log demo-out/{name}.log)")
    return proc


def stop_all():
    for name, proc in reversed(started):
        if proc.poll() is None:
            # Each child leads its own process group: cargo lambda watch runs the
            # functions as its children, and they go too.
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            say(f"stopped {name} (pid {proc.pid})")
    started.clear()


def run(args, **kwargs):
    subprocess.run(args, cwd=ROOT, check=True, **kwargs)


def wait_for(what, check, seconds=WAIT_SECONDS):
    say(f"waiting for {what} ...")
    start_time = time.time()
    last_note = start_time
    while True:
        result = check()
        if result:
            say(f"{what}: ready after {time.time() - start_time:.1f} s")
            return result
        if time.time() - start_time > seconds:
            raise SystemExit(
                f"demo: no {what} after {seconds} s; see demo-out/*.log and demo-out/dead-letter.jsonl"
            )
        if time.time() - last_note > 30:
            say(f"still waiting for {what} ({time.time() - start_time:.0f} s; the first invocation compiles the function)")
            last_note = time.time()
        time.sleep(1)


def algo(server, path, body, content_type):
    request = urllib.request.Request(
        f"{server}/v1/algo/{path}",
        data=body,
        headers={"Content-Type": content_type, "Authorization": f"Simple {API_KEY}"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return json.load(reply)


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir()

    # Features resolved as `cargo lambda watch` resolves them (its `cargo run --bin F` at
    # the workspace root covers every member), so the first invocation does not compile.
    say("building algo-server, local-trigger and the Lambda functions " + ", ".join(FUNCTIONS))
    began = time.time()
    run(["cargo", "build", "--workspace", "--bins"])
    say(f"built in {time.time() - began:.1f} s")

    moto_port, algo_port, runtime_port = free_port(), free_port(), free_port()
    moto = start("moto", [str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)])
    wait_port(moto_port, "moto", moto)
    endpoint = f"http://127.0.0.1:{moto_port}"
    server_url = f"http://127.0.0.1:{algo_port}"
    server = start(
        "algo-server",
        [str(TARGET / "debug" / "algo-server"), "--listen", f"127.0.0.1:{algo_port}",
         "--api-key", API_KEY, "--allow-fetch-host", "127.0.0.1"],
    )
    wait_port(algo_port, "algo-server", server)

    aws = dict(
        endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id="demo", aws_secret_access_key="demo",
    )
    s3, sqs, kms, ddb, kinesis = (
        boto3.client(s, **aws) for s in ("s3", "sqs", "kms", "dynamodb", "kinesis")
    )

    say("creating buckets, queues, the table, two streams and a KMS key (the key travels KMS-encrypted)")
    key_id = kms.create_key(Description="demo Algorithmia key")["KeyMetadata"]["KeyId"]
    ciphertext = base64.b64encode(
        kms.encrypt(KeyId=key_id, Plaintext=API_KEY.encode())["CiphertextBlob"]
    ).decode()
    for bucket in ("demo-images", "demo-media"):
        s3.create_bucket(Bucket=bucket)
    queues = {}
    for name in ("thumbnail-events", "transcribe-events"):
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queues[name] = (url, arn)

    def notification(prefix, queue, suffix=None):
        rules = [{"Name": "prefix", "Value": prefix}] + ([{"Name": "suffix", "Value": suffix}] if suffix else [])
        return {"QueueArn": queues[queue][1], "Events": ["s3:ObjectCreated:*"], "Filter": {"Key": {"FilterRules": rules}}}

    s3.put_bucket_notification_configuration(
        Bucket="demo-images",
        NotificationConfiguration={"QueueConfigurations": [notification("uploads/", "thumbnail-events")]},
    )
    s3.put_bucket_notification_configuration(
        Bucket="demo-media",
        NotificationConfiguration={"QueueConfigurations": [
            notification("media/", "transcribe-events"),
            notification("transcripts/.pending/", "transcribe-events", ".json"),
        ]},
    )
    manifest = json.loads((ROOT / f"models/predict/{MODEL}/manifest.json").read_text())
    features = [f["name"] for f in manifest["features"]]
    table = ddb.create_table(
        TableName="demo-patients",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    stream_arn = table["TableDescription"]["LatestStreamArn"]
    for name in ("demo-measurements", "demo-predictions"):
        kinesis.create_stream(StreamName=name, ShardCount=1)
    measurements_arn = kinesis.describe_stream_summary(StreamName="demo-measurements")[
        "StreamDescriptionSummary"]["StreamARN"]

    env_file = OUT / "functions.env"
    env_file.write_text("\n".join([
        f"AWS_ENDPOINT_URL={endpoint}",
        f"AWS_REGION={REGION}",
        "AWS_ACCESS_KEY_ID=demo",
        "AWS_SECRET_ACCESS_KEY=demo",
        "AWS_EC2_METADATA_DISABLED=true",
        f"ALGORITHMIA_API={server_url}",
        f"ALGORITHMIA_API_KEY_KMS={ciphertext}",
        "THUMBNAIL_SIZES=200x200,640x360",
        f"MODEL={MODEL}",
        f"FEATURES={','.join(features)}",
        "OUTPUT_STREAM=demo-predictions",
        "RUST_LOG=info",
    ]) + "\n")
    path = f"{VENV_BIN}:{os.environ.get('PATH', '')}"
    watch = start(
        "cargo-lambda-watch",
        ["cargo", "lambda", "watch", "--invoke-address", "127.0.0.1", "--invoke-port", str(runtime_port),
         "--ignore-changes", "--env-file", str(env_file)],
        env={**os.environ, "PATH": path},
    )
    wait_port(runtime_port, "cargo-lambda-watch", watch)
    trigger = start(
        "local-trigger",
        [str(TARGET / "debug" / "local-trigger"), "--endpoint", endpoint,
         "--runtime", f"http://127.0.0.1:{runtime_port}",
         "--s3-queue", f"{queues['thumbnail-events'][0]}=s3-thumbnail",
         "--s3-queue", f"{queues['transcribe-events'][0]}=s3-transcribe",
         "--dynamodb-stream", f"{stream_arn}=dynamodb-predict",
         "--kinesis-stream", f"{measurements_arn}=kinesis-predict",
         "--dead-letter", str(OUT / "dead-letter.jsonl")],
    )
    time.sleep(1)
    if trigger.poll() is not None:
        raise SystemExit("demo: local-trigger exited at start; see demo-out/local-trigger.log")

    photo_key, video_key = "uploads/astronaut photo.jpg", "media/hello world.mp4"
    say(f"uploading s3://demo-images/{photo_key}, s3://demo-media/{video_key}, 5 table items and 5 Kinesis records")
    s3.upload_file(str(ROOT / "fixtures/images/astronaut.jpg"), "demo-images", photo_key,
                   ExtraArgs={"ContentType": "image/jpeg"})
    s3.upload_file(str(ROOT / "fixtures/generated/speech.mp4"), "demo-media", video_key,
                   ExtraArgs={"ContentType": "video/mp4"})
    rows = json.loads((ROOT / f"models/predict/{MODEL}/expected.json").read_text())[:5]
    for i, row in enumerate(rows):
        item = {"id": {"S": f"patient-{i + 1}"}}
        item.update({name: {"N": repr(float(row["features"][name]))} for name in features})
        ddb.put_item(TableName="demo-patients", Item=item)
    for i, row in enumerate(rows):
        record = {"patient": f"patient-{i + 1}"} | {name: float(row["features"][name]) for name in features}
        kinesis.put_record(StreamName="demo-measurements", PartitionKey=f"patient-{i + 1}",
                           Data=json.dumps(record).encode())

    def objects(bucket, prefix):
        listing = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for o in listing.get("Contents", [])]

    thumbnails = [f"thumbnails/{size}/{photo_key}" for size in ("200x200", "640x360")]
    transcripts = [f"transcripts/{video_key}.{ext}" for ext in ("json", "txt", "vtt", "srt")]
    wait_for("thumbnails", lambda: all(k in objects("demo-images", "thumbnails/") for k in thumbnails))
    wait_for("transcripts", lambda: all(k in objects("demo-media", "transcripts/") for k in transcripts))

    def predicted():
        items = [ddb.get_item(TableName="demo-patients", Key={"id": {"S": f"patient-{i + 1}"}}, ConsistentRead=True)
                 .get("Item", {}) for i in range(len(rows))]
        return items if all("prediction" in item for item in items) else None

    items = wait_for("predictions", predicted)

    def stream_outputs():
        shard = kinesis.list_shards(StreamName="demo-predictions")["Shards"][0]["ShardId"]
        iterator = kinesis.get_shard_iterator(StreamName="demo-predictions", ShardId=shard,
                                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=1000)["Records"]
        outputs = [json.loads(r["Data"]) for r in records]
        return outputs if len(outputs) >= len(rows) else None

    enriched = wait_for("enriched records on demo-predictions", stream_outputs)

    say("results (copies in demo-out/)")
    print()
    face = algo(server_url, "blueprints/FaceDetection/1.0.0",
                (ROOT / "fixtures/images/astronaut.jpg").read_bytes(), "application/octet-stream")
    faces = face["result"]["faces"]
    print(f"  s3-thumbnail   s3://demo-images/{photo_key}: {face['result']['width']}x{face['result']['height']}, "
          f"{len(faces)} face(s) " + ", ".join(
              f"at x={f['x']:.0f} y={f['y']:.0f} {f['width']:.0f}x{f['height']:.0f} (score {f['score']:.1f})" for f in faces))
    for key in thumbnails:
        local = OUT / "s3-thumbnail" / key
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("demo-images", key, str(local))
        head = s3.head_object(Bucket="demo-images", Key=key)
        print(f"                 -> s3://demo-images/{key} ({head['ContentLength']} bytes, {head['ContentType']}, "
              f"source-etag {head['Metadata'].get('source-etag')}) -> {local.relative_to(ROOT)}")
    for key in transcripts:
        local = OUT / "s3-transcribe" / key
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file("demo-media", key, str(local))
    text = (OUT / "s3-transcribe" / transcripts[1]).read_text().strip()
    print(f"  s3-transcribe  s3://demo-media/{video_key}")
    print(f"                 -> s3://demo-media/transcripts/{video_key}.{{json,txt,vtt,srt}} -> demo-out/s3-transcribe/")
    print(f"                 text: \"{text}\"")
    print(f"                 reference: \"{(ROOT / 'fixtures/generated/speech.txt').read_text().strip()}\"")
    print(f"  dynamodb-predict table demo-patients, model {MODEL}")
    predictions = []
    for row, item in zip(rows, items):
        p = item["prediction"]["M"]
        predictions.append({k: list(v.values())[0] for k, v in p.items()} | {"id": item["id"]["S"]})
        print(f"                 {item['id']['S']}: {p['label']['S']} (score {float(p['score']['N']):.4f}; "
              f"scikit-learn: {row['label']} {row['score']:.4f}; truth {row.get('truth')})")
    (OUT / "dynamodb-predict.json").write_text(json.dumps(predictions, indent=2) + "\n")
    print(f"  kinesis-predict stream demo-measurements -> demo-predictions, model {MODEL}")
    for row, output in zip(rows, enriched):
        p, source = output["prediction"], output["source"]
        print(f"                 {source['partition_key']} (seq {source['sequence_number']}): {p['label']} "
              f"(score {p['score']:.4f}; scikit-learn: {row['label']} {row['score']:.4f})")
    (OUT / "kinesis-predict.json").write_text(json.dumps(enriched, indent=2) + "\n")
    dead = OUT / "dead-letter.jsonl"
    print(f"  dead-letter log: {'empty' if not dead.exists() else str(dead.read_text().count(chr(10))) + ' events'}")
    print()


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    began = time.time()
    try:
        main()
        say(f"done in {time.time() - began:.0f} s")
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(130)
    finally:
        stop_all()
