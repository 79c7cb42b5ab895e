// A third-party SOAP client against a running medsync ФЭР service: node-soap reads the
// served WSDL (and the schema it imports), then calls every operation the way a
// regional portal does: list departments, their positions and specialties, the
// doctors, a doctor's free slots, identify the patient, book a slot, cancel the
// booking. It prints one JSON object per call (operation, result as node-soap parsed
// it, the raw request and response) for the Go test to check.
//
// usage: node nodesoap_client.js <wsdl url> <user> <password> <plan.json>
'use strict';
const soap = require('soap');
const fs = require('fs');

// rebuild turns {"$o": [[key, value], …]} into an object with the keys in that order
// (node-soap writes elements in key order, and the schema's sequences are ordered).
function rebuild(v) {
  if (Array.isArray(v)) return v.map(rebuild);
  if (v && typeof v === 'object' && Array.isArray(v.$o)) return Object.fromEntries(v.$o.map(([k, x]) => [k, rebuild(x)]));
  return v;
}

async function main() {
  const [url, user, password, planFile] = process.argv.slice(2);
  const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
  const auth = 'Basic ' + Buffer.from(user + ':' + password).toString('base64');
  const client = await soap.createClientAsync(url, { wsdl_headers: { Authorization: auth } });
  client.setSecurity(new soap.BasicAuthSecurity(user, password));
  const out = [];
  const ctx = {};
  for (const step of plan) {
    const args = rebuild(JSON.parse(JSON.stringify(step.args).replace(/\$\{(\w+)\}/g, (_, k) => ctx[k] || '')));
    const entry = { operation: step.operation };
    try {
      const [result, rawResponse, , rawRequest] = await client[step.operation + 'Async'](args);
      entry.result = result;
      entry.rawRequest = rawRequest;
      entry.rawResponse = rawResponse;
    } catch (err) {
      entry.error = String(err && err.message || err);
      entry.rawResponse = err && err.body;
    }
    // Remember values later steps refer to as ${name}.
    for (const [name, path] of Object.entries(step.save || {})) {
      let v = entry.result;
      for (const p of path.split('.')) v = v == null ? v : v[p];
      ctx[name] = v;
    }
    out.push(entry);
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => { console.error(err && err.stack || err); process.exit(1); });
