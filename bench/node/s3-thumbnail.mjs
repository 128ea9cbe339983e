// The Node.js peer of blueprints/s3-thumbnail: HEAD the image, presign a GET URL, call
// SmartThumbnail for each size, PUT the thumbnails (AWS SDK v3, key from KMS at init).
import { S3Client, HeadObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { callAlgorithm, decodeKey } from './common.mjs';

const s3 = new S3Client({ forcePathStyle: true });
const algorithm = process.env.ALGORITHM ?? 'blueprints/SmartThumbnail/1.0.0';
const prefix = process.env.OUTPUT_PREFIX ?? 'thumbnails/';
const sizes = (process.env.THUMBNAIL_SIZES ?? '200x200').split(',').map((s) => s.trim().split('x').map(Number));

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
    const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key }), { expiresIn: 900 });
    await Promise.all(sizes.map(async ([width, height]) => {
      const output = `${prefix}${width}x${height}/${Key}`;
      if (await exists(Bucket, output)) return;
      const body = await callAlgorithm(algorithm, { image: url, width, height, format: 'jpeg' });
      await s3.send(new PutObjectCommand({
        Bucket, Key: output, Body: body, ContentType: 'image/jpeg', CacheControl: 'public, max-age=86400',
        Metadata: { 'source-key': encodeURIComponent(Key), 'source-etag': head.ETag },
      }));
      outputs.push(output);
    }));
  }
  return { outputs };
}
