// Parses SQL Server statements with node-sql-parser (TransactSQL grammar).
// Input on stdin: a JSON array of {"name": "...", "sql": "..."}.
// Output on stdout: a JSON array of {"name": "...", "error": "..."} for statements that
// fail to parse (empty when all parse). Run with NODE_PATH or from a folder where
// `npm install node-sql-parser` was run (MEDSYNC_SQLPARSER_DIR).
const path = require('path');
const dir = process.env.MEDSYNC_SQLPARSER_DIR || '.';
const { Parser } = require(path.join(path.resolve(dir), 'node_modules', 'node-sql-parser'));

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (c) => { input += c; });
process.stdin.on('end', () => {
  const stmts = JSON.parse(input);
  const parser = new Parser();
  const failed = [];
  for (const s of stmts) {
    try {
      parser.astify(s.sql, { database: 'TransactSQL' });
    } catch (e) {
      failed.push({ name: s.name, error: String(e.message || e).slice(0, 400) });
    }
  }
  process.stdout.write(JSON.stringify(failed));
});
