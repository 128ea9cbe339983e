// The Node.js peer of blueprints/dynamodb-predict: the batch's new images -> one Predict
// call -> a conditional UpdateItem per record, with partial batch failures.
import { DynamoDBClient, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall, marshall } from '@aws-sdk/util-dynamodb';
import { callAlgorithm } from './common.mjs';

const dynamodb = new DynamoDBClient({});
const algorithm = process.env.ALGORITHM ?? 'blueprints/Predict/1.0.0';
const model = process.env.MODEL;
const features = process.env.FEATURES.split(',').map((f) => f.trim());
const attribute = process.env.PREDICTION_ATTRIBUTE ?? 'prediction';

export async function handler(event) {
  const records = (event.Records ?? []).filter((r) => r.eventName !== 'REMOVE' && r.dynamodb?.NewImage);
  if (records.length === 0) return { batchItemFailures: [] };
  const images = records.map((r) => unmarshall(r.dynamodb.NewImage));
  const instances = images.map((item) => Object.fromEntries(features.map((f) => [f, Number(item[f])])));
  const { predictions } = await callAlgorithm(algorithm, { model, instances });
  const failures = [];
  await Promise.all(records.map(async (record, i) => {
    const table = record.eventSourceARN.split(':table/')[1].split('/')[0];
    const [keyName] = Object.keys(record.dynamodb.Keys);
    try {
      await dynamodb.send(new UpdateItemCommand({
        TableName: table,
        Key: record.dynamodb.Keys,
        UpdateExpression: 'SET #p = :p',
        ConditionExpression: 'attribute_exists(#k)',
        ExpressionAttributeNames: { '#p': attribute, '#k': keyName },
        ExpressionAttributeValues: marshall({ ':p': { model, ...predictions[i] } }, { removeUndefinedValues: true }),
      }));
    } catch (error) {
      if (error.name !== 'ConditionalCheckFailedException') failures.push({ itemIdentifier: record.dynamodb.SequenceNumber });
    }
  }));
  return { batchItemFailures: failures };
}
