// The Node.js peer of blueprints/s3-transcribe (synchronous mode): HEAD the media,
// presign a GET URL, call SpeechToText, write TXT, WebVTT, SRT and JSON.
import { S3Client, HeadObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { callAlgorithm, decodeKey } from './common.mjs';

const s3 = new S3Client({ forcePathStyle: true });
const algorithm = process.env.ALGORITHM ?? 'blueprints/SpeechToText/1.0.0';
const prefix = process.env.OUTPUT_PREFIX ?? 'transcripts/';

const stamp = (s, sep) => {
  const ms = Math.round(s * 1000);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${p(Math.floor(ms / 3600000))}:${p(Math.floor(ms / 60000) % 60)}:${p(Math.floor(ms / 1000) % 60)}${sep}${p(ms % 1000, 3)}`;
};
const vtt = (t) => 'WEBVTT\n' + t.segments.map((c) => `\n${stamp(c.start, '.')} --> ${stamp(c.end, '.')}\n${c.text.trim()}\n`).join('');
const srt = (t) => t.segments.map((c, i) => `${i + 1}\n${stamp(c.start, ',')} --> ${stamp(c.end, ',')}\n${c.text.trim()}\n`).join('\n');

async function exists(Bucket, Key) {
  try { await s3.send(new HeadObjectCommand({ Bucket, Key })); return true; }
  catch (error) { if (error.name === 'NotFound') return false; throw error; }
}

export async function handler(event) {
  const outputs = [];
  for (const record of event.Records ?? []) {
    const Bucket = record.s3.bucket.name;
    const Key = decodeKey(record.s3.object.key);
    if (Key.startsWith(prefix)) continue;
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }));
    if (await exists(Bucket, `${prefix}${Key}.json`)) continue;
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key }), { expiresIn: 3600 });
    const transcript = await callAlgorithm(algorithm, { url });
    const Metadata = { 'source-key': encodeURIComponent(Key), 'source-etag': head.ETag };
    for (const [ext, ContentType, body] of [
      ['txt', 'text/plain; charset=utf-8', transcript.text.trim() + '\n'],
      ['vtt', 'text/vtt; charset=utf-8', vtt(transcript)],
      ['srt', 'application/x-subrip; charset=utf-8', srt(transcript)],
      ['json', 'application/json', JSON.stringify(transcript)],
    ]) {
      await s3.send(new PutObjectCommand({ Bucket, Key: `${prefix}${Key}.${ext}`, Body: body, ContentType, Metadata }));
      outputs.push(`${prefix}${Key}.${ext}`);
    }
  }
  return { outputs };
}
