// The client the MCP conformance suite runs for each scenario:
//
//   conformance client --command "node driver.mjs" --scenario NAME
//
// The suite appends the URL of its test server and sets
// MCP_CONFORMANCE_SCENARIO, and MCP_CONFORMANCE_CONTEXT (JSON) for some
// scenarios. This driver is the official TypeScript SDK's Client over
// stdio, in front of the program under test, which talks to that URL:
//
//   KEYRELAY_CONFORMANCE_TARGET=relay       $KEYRELAY_RELAY serve --mcp-url URL
//   KEYRELAY_CONFORMANCE_TARGET=mcp-remote  node $KEYRELAY_MCP_REMOTE URL
//
// It does what the suite's own example client (examples/clients/typescript/
// everything-client.ts and sse-retry-test.ts) does for each scenario:
// initialize, list the tools, call them, close. The program's own
// environment (HOME, RELAY_DATA_DIR, the vault key, BROWSER) comes from the
// test (conformance_test.go), through the suite.
//
// Exit status: 0 when every step answered and no tool call came back as an
// error, 1 otherwise (the suite counts a client that exits non-zero as a
// failure, except in scenarios where the client is meant to give up).

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { writeFileSync, mkdtempSync, symlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { tmpdir } from 'node:os';

// The client id the suite's CIMD scenario expects (anchors.md); its example
// client offers it in every auth scenario, and a client uses it only when
// the authorization server says it supports Client ID Metadata Documents.
const CIMD_CLIENT_ID = 'https://conformance-test.local/client-metadata.json';

// Under the suite's own 30 s timeout, so that the driver ends the program
// under test itself and says why.
const DEADLINE_MS = Number(process.env.KEYRELAY_DRIVER_DEADLINE_MS || 25000);

const log = (...a) => console.error('driver:', ...a);

function context() {
  const raw = process.env.MCP_CONFORMANCE_CONTEXT;
  if (!raw) return {};
  try {
    return JSON.parse(raw);
  } catch {
    throw new Error('MCP_CONFORMANCE_CONTEXT is not JSON');
  }
}

// program returns the command, arguments and environment of the program
// under test, with the scenario's pre-registered client (if any) mapped to
// its own settings. Secrets go in the environment or a private file, never
// in argv.
function program(target, serverUrl, ctx, scenario) {
  const env = { ...process.env };
  delete env.MCP_CONFORMANCE_CONTEXT;
  switch (target) {
    case 'relay': {
      if (scenario.startsWith('auth/client-credentials')) {
        // SEP-1046: no person; the key goes in a private file.
        env.RELAY_CLIENT_CREDENTIALS = '1';
        env.RELAY_CLIENT_ID = ctx.client_id;
        if (ctx.client_secret) env.RELAY_CLIENT_SECRET = ctx.client_secret;
        if (ctx.private_key_pem) {
          const dir = mkdtempSync(join(env.HOME || tmpdir(), 'client-key-'));
          const file = join(dir, 'key.pem');
          writeFileSync(file, ctx.private_key_pem, { mode: 0o600 });
          env.RELAY_CLIENT_KEY_FILE = file;
        }
        return { command: need('KEYRELAY_RELAY'), args: ['serve', '--mcp-url', serverUrl], env };
      }
      if (scenario.startsWith('auth/cross-app-access')) {
        // SEP-990: the ID token goes in a private file, read at each use
        // (RELAY_IDP_ID_TOKEN_FILE); the client's secret in the
        // environment.
        env.RELAY_IDP_ISSUER = ctx.idp_issuer;
        env.RELAY_IDP_CLIENT_ID = ctx.idp_client_id;
        env.RELAY_CLIENT_ID = ctx.client_id;
        env.RELAY_CLIENT_SECRET = ctx.client_secret;
        const dir = mkdtempSync(join(env.HOME || tmpdir(), 'id-token-'));
        const file = join(dir, 'id_token');
        writeFileSync(file, ctx.idp_id_token, { mode: 0o600 });
        env.RELAY_IDP_ID_TOKEN_FILE = file;
        return { command: need('KEYRELAY_RELAY'), args: ['serve', '--mcp-url', serverUrl], env };
      }
      env.RELAY_CLIENT_METADATA_URL = CIMD_CLIENT_ID;
      if (ctx.client_id) env.RELAY_CLIENT_ID = ctx.client_id;
      if (ctx.client_secret) env.RELAY_CLIENT_SECRET = ctx.client_secret;
      return { command: need('KEYRELAY_RELAY'), args: ['serve', '--mcp-url', serverUrl], env };
    }
    case 'mcp-remote': {
      const args = [need('KEYRELAY_MCP_REMOTE'), serverUrl, '--client-metadata-url', CIMD_CLIENT_ID];
      if (ctx.client_id) {
        const dir = mkdtempSync(join(env.HOME || tmpdir(), 'client-info-'));
        const file = join(dir, 'client.json');
        const info = { client_id: ctx.client_id };
        if (ctx.client_secret) info.client_secret = ctx.client_secret;
        writeFileSync(file, JSON.stringify(info), { mode: 0o600 });
        args.push('--static-oauth-client-info', '@' + file);
      }
      // mcp-remote opens the browser with xdg-open, gio, x-www-browser or
      // sensible-browser, never $BROWSER itself: put $BROWSER first in its
      // PATH under those names.
      if (env.BROWSER) {
        const bin = mkdtempSync(join(env.HOME || tmpdir(), 'browser-'));
        for (const name of ['xdg-open', 'x-www-browser']) symlinkSync(env.BROWSER, join(bin, name));
        env.PATH = bin + delimiter + (env.PATH || '');
      }
      return { command: process.execPath, args, env };
    }
    default:
      throw new Error(`KEYRELAY_CONFORMANCE_TARGET=${target}: want relay or mcp-remote`);
  }
}

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

// argsFor makes arguments for a tool from its input schema: a value of the
// declared type for each required property (the suite's tools_call
// scenario checks that add_numbers gets two numbers).
function argsFor(schema) {
  const out = {};
  const props = schema?.properties ?? {};
  let n = 0;
  for (const name of schema?.required ?? []) {
    n++;
    switch (props[name]?.type) {
      case 'number':
      case 'integer':
        out[name] = n;
        break;
      case 'boolean':
        out[name] = true;
        break;
      case 'array':
        out[name] = [];
        break;
      case 'object':
        out[name] = {};
        break;
      default:
        out[name] = 'x';
    }
  }
  return out;
}

async function run(serverUrl) {
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO || '';
  const target = process.env.KEYRELAY_CONFORMANCE_TARGET || 'relay';
  const p = program(target, serverUrl, context(), scenario);

  // Elicitation only where the example client offers it, with the SDK
  // filling in the schema's defaults for the fields the answer omits
  // (SEP-1034).
  const elicit = scenario.startsWith('elicitation');
  const client = new Client(
    { name: 'keyrelay-conformance-driver', version: '1.0.0' },
    { capabilities: elicit ? { elicitation: { form: { applyDefaults: true } } } : {} }
  );
  if (elicit) {
    client.setRequestHandler(ElicitRequestSchema, async (req) => {
      log(`elicitation: ${req.params.message ?? ''}: accepting with no content`);
      return { action: 'accept', content: {} };
    });
  }
  const transport = new StdioClientTransport({ ...p, stderr: 'inherit' });

  const timer = setTimeout(() => {
    log(`${target}: no answer within ${DEADLINE_MS} ms; closing`);
    client.close().finally(() => process.exit(1));
  }, DEADLINE_MS);

  log(`${target}: scenario ${scenario}: connecting`);
  await client.connect(transport);
  const { tools } = await client.listTools();
  log(`${target}: tools: ${tools.map((t) => t.name).join(', ') || '(none)'}`);
  let toolErrors = 0;
  for (const tool of tools) {
    const res = await client.callTool({ name: tool.name, arguments: argsFor(tool.inputSchema) });
    const text = (res.content ?? []).map((c) => c.text ?? `[${c.type}]`).join(' ');
    log(`${target}: ${tool.name}: ${res.isError ? 'tool error: ' : ''}${text.slice(0, 300)}`);
    if (res.isError) toolErrors++;
  }
  clearTimeout(timer);
  await client.close();
  if (toolErrors > 0) throw new Error(`${toolErrors} tool call(s) answered with an error`);
}

run(process.argv[process.argv.length - 1]).then(
  () => process.exit(0),
  (err) => {
    log('failed:', err?.message ?? err);
    process.exit(1);
  }
);
