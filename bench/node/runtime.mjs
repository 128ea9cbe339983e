// A minimal Lambda runtime interface loop (what the managed Node.js runtime does):
// import the handler module (its top-level code is the function's init), then
// fetch the next event, run the handler, post its result; forever.
//
//   AWS_LAMBDA_RUNTIME_API=127.0.0.1:PORT node bench/node/runtime.mjs bench/node/s3-thumbnail.mjs
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const api = `http://${process.env.AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime`;
const { handler } = await import(pathToFileURL(resolve(process.argv[2])).href);

for (;;) {
  const next = await fetch(`${api}/invocation/next`);
  const id = next.headers.get('lambda-runtime-aws-request-id');
  const deadline = Number(next.headers.get('lambda-runtime-deadline-ms'));
  const event = await next.json();
  const context = {
    awsRequestId: id,
    functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
    getRemainingTimeInMillis: () => deadline - Date.now(),
  };
  try {
    const result = await handler(event, context);
    await fetch(`${api}/invocation/${id}/response`, { method: 'POST', body: JSON.stringify(result ?? null) });
  } catch (error) {
    console.error(error);
    await fetch(`${api}/invocation/${id}/error`, {
      method: 'POST',
      headers: { 'Lambda-Runtime-Function-Error-Type': error.name ?? 'Error' },
      body: JSON.stringify({ errorType: error.name, errorMessage: String(error.message ?? error) }),
    });
  }
}
