// Part 2 of `make bench`: algo-server's SmartThumbnail against sharp's attention crop.
//
//   node bench/node/thumbnail.mjs ALGO_SERVER_URL OUT.json
//
// 1. Latency on the 12 MP JPEG, 300x300 JPEG out, RUNS runs (default 10) after 2
//    warm-ups, interleaved: algo-server over HTTP on 127.0.0.1, the image as base64 in
//    the JSON input (as a blueprint without a URL would send it) and as the request's
//    bytes, each timed from building the request to the last byte of the reply; and
//    sharp in this process (buffer in, buffer out, libvips cache off).
// 2. Face photos (fixtures/images/faces.json), 200x200 and 300x150: where each crop
//    lies in the original and whether every labelled face box is inside it. Both crop
//    windows are found the same way: the largest W:H window, slid along its free axis
//    over a copy of the original scaled like the thumbnail, to the offset whose pixels
//    differ least from the thumbnail (sharp's own cropOffset is kept as a cross-check).
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';

const [base, outPath] = process.argv.slice(2);
const runs = Number(process.env.RUNS ?? 10);
const root = new URL('../../', import.meta.url).pathname;
sharp.cache(false);

// Building the JSON body (base64 and JSON.stringify, in this process) is timed apart
// too: the caller's share of the base64 JSON form, read by the latency loop.
let lastJsonBuildMs = 0;
async function smartThumbnail(image, width, height) {
  const start = performance.now();
  const body = JSON.stringify({ image: image.toString('base64'), width, height, format: 'jpeg' });
  lastJsonBuildMs = performance.now() - start;
  const reply = await fetch(`${base}/v1/algo/blueprints/SmartThumbnail/1.0.0`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body,
  });
  return thumbnailOf(reply);
}

async function thumbnailOf(reply) {
  const body = await reply.json();
  if (body.error) throw new Error(`SmartThumbnail: ${body.error.message}`);
  return Buffer.from(body.result, 'base64');
}

// The image as the request body (application/octet-stream), the size in the query:
// what a caller holding the bytes sends without building JSON around them.
async function smartThumbnailOfBytes(image, width, height) {
  const query = `width=${width}&height=${height}&format=jpeg`;
  const reply = await fetch(`${base}/v1/algo/blueprints/SmartThumbnail/1.0.0?${query}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: image,
  });
  return thumbnailOf(reply);
}

const attention = (image, width, height) =>
  sharp(image).resize(width, height, { fit: 'cover', position: sharp.strategy.attention })
    .jpeg().toBuffer({ resolveWithObject: true });

async function timed(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

// 1. Latency.
const big = readFileSync(`${root}fixtures/generated/12mp.jpg`);
const latency = { ours_http_ms: [], ours_http_json_build_ms: [], ours_http_bytes_ms: [], sharp_ms: [] };
for (let i = 0; i < runs + 2; i++) {
  const ours = await timed(() => smartThumbnail(big, 300, 300));
  const bytes = await timed(() => smartThumbnailOfBytes(big, 300, 300));
  const theirs = await timed(() => attention(big, 300, 300));
  if (i >= 2) {
    latency.ours_http_ms.push(ours);
    latency.ours_http_json_build_ms.push(lastJsonBuildMs);
    latency.ours_http_bytes_ms.push(bytes);
    latency.sharp_ms.push(theirs);
  }
  process.stderr.write(`    12 MP run ${i + 1}/${runs + 2}: algo-server ${ours.toFixed(0)} ms (base64 JSON), `
    + `${bytes.toFixed(0)} ms (bytes), sharp ${theirs.toFixed(0)} ms\n`);
}

// 2. Faces.
async function grey(image, width, height) {
  return sharp(image).resize(width, height, { fit: 'fill' }).greyscale().raw().toBuffer();
}

/** The crop window of `thumb` in `original`'s pixels: {x, y, width, height}. */
async function locate(original, meta, thumb, W, H) {
  const s = Math.max(W / meta.width, H / meta.height);
  const rw = Math.max(W, Math.round(meta.width * s)), rh = Math.max(H, Math.round(meta.height * s));
  const scaled = await grey(original, rw, rh);
  const t = await grey(thumb, W, H);
  let best = { sad: Infinity, ox: 0, oy: 0 };
  for (let oy = 0; oy <= rh - H; oy++) {
    for (let ox = 0; ox <= rw - W; ox++) {
      let sad = 0;
      for (let y = 0; y < H && sad < best.sad; y += 2) {
        const row = (oy + y) * rw + ox, trow = y * W;
        for (let x = 0; x < W; x += 2) sad += Math.abs(scaled[row + x] - t[trow + x]);
      }
      if (sad < best.sad) best = { sad, ox, oy };
    }
  }
  return { x: best.ox / s, y: best.oy / s, width: W / s, height: H / s, scale: s };
}

function kept(face, win) {
  const tol = Math.max(2, 1.5 / win.scale);
  return face.x >= win.x - tol && face.y >= win.y - tol
    && face.x + face.width <= win.x + win.width + tol
    && face.y + face.height <= win.y + win.height + tol;
}

const round = (w) => ({ x: Math.round(w.x), y: Math.round(w.y), width: Math.round(w.width), height: Math.round(w.height) });
const labelled = JSON.parse(readFileSync(`${root}fixtures/images/faces.json`, 'utf8'));
const faces = [];
for (const [file, boxes] of Object.entries(labelled)) {
  const image = readFileSync(`${root}fixtures/images/${file}`);
  const meta = await sharp(image).metadata();
  for (const [W, H] of [[200, 200], [300, 150]]) {
    const ours = await smartThumbnail(image, W, H);
    const { data: theirs, info } = await attention(image, W, H);
    const oursWin = await locate(image, meta, ours, W, H);
    const theirsWin = await locate(image, meta, theirs, W, H);
    const row = {
      file, size: `${W}x${H}`, faces: boxes.length,
      ours_kept: boxes.filter((b) => kept(b, oursWin)).length,
      sharp_kept: boxes.filter((b) => kept(b, theirsWin)).length,
      ours_window: round(oursWin), sharp_window: round(theirsWin),
      sharp_reported_offset: { left: info.cropOffsetLeft, top: info.cropOffsetTop },
    };
    faces.push(row);
    process.stderr.write(`    ${file} ${row.size}: faces kept: algo-server ${row.ours_kept}/${row.faces}, sharp ${row.sharp_kept}/${row.faces}\n`);
  }
}

writeFileSync(outPath, JSON.stringify({ runs, latency, faces, sharp_version: sharp.versions.sharp, vips_version: sharp.versions.vips, concurrency: sharp.concurrency() }, null, 2));
