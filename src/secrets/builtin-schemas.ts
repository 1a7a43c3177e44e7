// Loaded lazily (see builtinSchemas in schema.ts): importing zod costs ~55 ms.
import { z } from 'zod';
import { defineSchema } from './define-schema.js';

const s = () => z.string();

export const awsSchema = defineSchema(
  'aws',
  z.object({
    aws_access_key_id: s().describe('AWS access key id'),
    aws_secret_access_key: s().describe('AWS secret access key'),
    aws_session_token: s().optional().describe('temporary session token'),
  }),
  { description: 'AWS credentials.' },
);

export const gcpSchema = defineSchema('gcp', z.object({ token: s().describe('service-account key, as JSON text') }), {
  description: 'A GCP service-account key.',
});

export const azureSchema = defineSchema(
  'azure',
  z.object({
    account_name: s().optional(),
    account_key: s().optional(),
    sas_token: s().optional(),
    connection_string: s().optional(),
    client_id: s().optional(),
    client_secret: s().optional(),
    tenant_id: s().optional(),
  }),
  { description: 'Azure storage or service-principal credentials (all optional).' },
);

export const basicAuthSchema = defineSchema('basic_auth', z.object({ username: s(), password: s() }), {
  description: 'A username and password.',
});

export const mysqlSchema = defineSchema(
  'mysql',
  z.object({
    user: s().optional(),
    password: s().optional(),
    ssl_ca: s().optional(),
    ssl_cert: s().optional(),
    ssl_key: s().optional(),
    ssl_verify_server_cert: z.boolean().default(false),
  }),
  { description: 'MySQL connection credentials and TLS material.' },
);

export const BUILTIN_SCHEMAS = [awsSchema, gcpSchema, azureSchema, basicAuthSchema, mysqlSchema];
