// What the three Node.js handlers share: the API key decrypted from KMS once at init
// (Lambda console encryption context first, then none), and an Algorithmia v1 call.
import { KMSClient, DecryptCommand } from '@aws-sdk/client-kms';

const api = (process.env.ALGORITHMIA_API ?? 'https://api.algorithmia.com').replace(/\/+$/, '');

async function decryptKey() {
  if (process.env.ALGORITHMIA_API_KEY) return process.env.ALGORITHMIA_API_KEY;
  const kms = new KMSClient({});
  const CiphertextBlob = Buffer.from(process.env.ALGORITHMIA_API_KEY_KMS, 'base64');
  try {
    const { Plaintext } = await kms.send(new DecryptCommand({
      CiphertextBlob,
      EncryptionContext: { LambdaFunctionName: process.env.AWS_LAMBDA_FUNCTION_NAME },
    }));
    return Buffer.from(Plaintext).toString('utf8');
  } catch (error) {
    if (error.name !== 'InvalidCiphertextException') throw error;
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob }));
    return Buffer.from(Plaintext).toString('utf8');
  }
}

const apiKey = await decryptKey();

/** Calls `algorithm` with JSON `input`; returns the result (bytes for binary results). */
export async function callAlgorithm(algorithm, input) {
  const reply = await fetch(`${api}/v1/algo/${algorithm}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Simple ${apiKey}` },
    body: JSON.stringify(input),
  });
  const text = await reply.text();
  let body;
  try { body = JSON.parse(text); } catch { throw new Error(`${algorithm}: HTTP ${reply.status}: ${text.slice(0, 200)}`); }
  if (body.error) throw new Error(`${algorithm}: ${body.error.message}`);
  return body.metadata?.content_type === 'binary' ? Buffer.from(body.result, 'base64') : body.result;
}

/** An S3 event key: form-URL-encoded. */
export const decodeKey = (key) => decodeURIComponent(key.replace(/\+/g, ' '));
