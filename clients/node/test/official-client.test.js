// The official Algorithmia Node.js client (npm algorithmia 0.3.10) against algo-server.
// Run by crates/algo-server/tests/official_clients.rs, which starts the server and sets
// ALGORITHMIA_API, KEY_ALICE, KEY_BOB and FIXTURES. Every call the client can make to a
// self-hosted server is here; what it cannot do is said beside the test.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const algorithmia = require('algorithmia');

const api = process.env.ALGORITHMIA_API;
const alice = algorithmia.client(process.env.KEY_ALICE, api);
const bob = algorithmia.client(process.env.KEY_BOB, api);
const fixture = (name) => fs.readFileSync(path.join(process.env.FIXTURES, 'images', name));
const collection = `node${Date.now()}`;

// The client's promise is a `then` that stores one callback.
const pipe = (client, algo, input) =>
  new Promise((resolve) => client.algo(algo).pipe(input).then(resolve));
const cb = (fn) => new Promise((resolve) => fn((...args) => resolve(args)));

test('pipe JSON, text and bytes through Echo', async () => {
  const json = await pipe(alice, 'blueprints/Echo', { hello: 'world', n: [1, 2] });
  assert.deepEqual(json.get(), { hello: 'world', n: [1, 2] });
  assert.equal(json.metadata.content_type, 'json');
  const text = await pipe(alice, 'algo://blueprints/Echo/1.0.0', 'héllo');
  assert.equal(text.get(), 'héllo');
  assert.equal(text.metadata.content_type, 'text');
  const bytes = await pipe(alice, 'blueprints/Echo/1.0', Buffer.from([0, 1, 2, 255]));
  assert.deepEqual(bytes.get(), Buffer.from([0, 1, 2, 255]));
  assert.equal(bytes.metadata.content_type, 'binary');
  assert.match(bytes.metadata.request_id, /^[0-9a-f]{32}$/);
});

test('options as query parameters on the path: stdout, timeout, output', async () => {
  // 0.3.10 has no options API; a query string on the algorithm path reaches the server.
  const out = await pipe(alice, 'blueprints/Echo?stdout=true', 'x');
  assert.equal(out.metadata.stdout, 'echo: text input\n');
  const slow = await pipe(alice, 'blueprints/Sleep?timeout=1', 5);
  assert.equal(slow.error.error_type, 'TimeoutError');
  assert.throws(() => slow.get());
  // output=void answers at once; the client keeps only result/error/metadata of a reply.
  const never = await pipe(alice, 'blueprints/Sleep?output=void', 0);
  assert.equal(never.status, 200);
  assert.equal(never.error, undefined);
  // output=raw: the bare result; the client reads `.result` of it, so nothing usable.
  const raw = await pipe(alice, 'blueprints/Echo?output=raw', { a: 1 });
  assert.equal(raw.status, 200);
});

test('algorithm errors come back as errors', async () => {
  const bad = await pipe(alice, 'blueprints/SmartThumbnail', { image: 'not an image', width: 10, height: 10 });
  assert.equal(bad.error.error_type, 'InputError');
  assert.throws(() => bad.get(), /image/);
  const crash = await pipe(alice, 'blueprints/Crash', 'x');
  assert.equal(crash.error.error_type, 'AlgorithmError');
  assert.ok(crash.error.stacktrace.includes('blueprints/Crash'));
  const missing = await pipe(alice, 'nobody/Nothing', 1);
  assert.equal(missing.status, 404);
  assert.ok(missing.error.message.includes('nobody/Nothing'));
  const denied = await pipe(algorithmia.client('wrong-key', api), 'blueprints/Echo', 1);
  assert.equal(denied.status, 401);
});

test('real algorithms: FaceDetection and SmartThumbnail on bytes', async () => {
  const faces = await pipe(alice, 'blueprints/FaceDetection', fixture('astronaut.jpg'));
  assert.ok(faces.get().faces.length >= 1);
  const thumb = await pipe(alice, 'opencv/SmartThumbnail/2.1', { image: `data:image/jpeg;base64,${fixture('astronaut.jpg').toString('base64')}`, width: 32, height: 32 });
  assert.equal(thumb.get().subarray(1, 4).toString(), 'PNG');
});

test('Data API: files', async () => {
  const file = alice.file(`data://.my/${collection}/x.txt`);
  const [put] = await cb((done) => file.put('hello', (response, status) => done(status)));
  assert.equal(put, 200);
  const [exists] = await cb((done) => file.exists(done));
  assert.equal(exists, true);
  const [err, data] = await cb((done) => file.get(done));
  assert.equal(err, null);
  assert.equal(Buffer.from(data).toString(), 'hello');
  const [text] = await cb((done) => file.getString(done));
  assert.equal(text, 'hello');
  const json = alice.file(`data://.my/${collection}/x.json`);
  await cb((done) => json.putJson(JSON.stringify({ a: [1] }), done));
  const [parsed] = await cb((done) => json.getJson(done));
  assert.deepEqual(parsed, { a: [1] });
  const binary = alice.file(`data://.my/${collection}/b.bin`);
  await cb((done) => binary.put(Buffer.from([0, 255, 10]), done));
  const [, bytes] = await cb((done) => binary.get(done));
  assert.deepEqual(Buffer.from(bytes), Buffer.from([0, 255, 10]));
  const [gone] = await cb((done) => alice.file(`data://.my/${collection}/none`).exists(done));
  assert.equal(gone, false);
  const [response, status] = await cb((done) => json.delete(done));
  assert.equal(status, 200);
  assert.equal(response.result.deleted, 1);
  // Bob's .my is his own; Alice's space refuses him.
  const [bobSees] = await cb((done) => bob.file(`data://.my/${collection}/x.txt`).exists(done));
  assert.equal(bobSees, false);
  const [bobErr] = await cb((done) => bob.file(`data://alice/${collection}/x.txt`).get(done));
  assert.ok(bobErr.message.includes('another user'));
});

test('Data API: directories', async () => {
  const dir = alice.dir(`data://.my/${collection}d`);
  const [, created] = await cb((done) => dir.create(done));
  assert.equal(created, 200);
  const [exists] = await cb((done) => dir.exists(done));
  assert.equal(exists, true);
  for (const name of ['a.txt', 'b.txt', 'c.txt']) {
    await cb((done) => dir.file(name).put(name, done));
  }
  await cb((done) => alice.dir(`data://.my/${collection}d/sub`).create(done));
  const files = [];
  const dirs = [];
  await new Promise((resolve) => dir.forEach((err, item) => {
    assert.equal(err, null);
    (item.size === undefined ? dirs : files).push(item.data_path);
  }).then(resolve));
  assert.deepEqual(dirs, [`.my/${collection}d/sub`]);
  assert.deepEqual(files.sort(), ['a.txt', 'b.txt', 'c.txt'].map((n) => `.my/${collection}d/${n}`));
  const [refused, status] = await cb((done) => dir.delete(false, done));
  assert.equal(status, 400);
  assert.ok(refused.error.message.includes('force=true'));
  const [deleted] = await cb((done) => dir.delete(true, done));
  assert.equal(deleted.result.deleted, 3);
  const [after] = await cb((done) => dir.exists(done));
  assert.equal(after, false);
});

test('Data API: data:// inputs and outputs of algorithms', async () => {
  await cb((done) => alice.file(`data://.my/${collection}p/astronaut.jpg`).put(fixture('astronaut.jpg'), done));
  const faces = await pipe(alice, 'blueprints/FaceDetection', `data://.my/${collection}p/astronaut.jpg`);
  assert.ok(faces.get().faces.length >= 1);
  const out = await pipe(alice, 'blueprints/SmartThumbnail', {
    image: `data://.my/${collection}p/astronaut.jpg`, width: 40, height: 40, output: 'data://.algo/node/thumb.jpg',
  });
  assert.equal(out.get(), 'data://.algo/node/thumb.jpg');
  const [, thumb] = await cb((done) => alice.file('data://.algo/node/thumb.jpg').get(done));
  assert.equal(Buffer.from(thumb)[0], 0xff);
});
