// Trunk post-build hook: moves every inline <script> of the built index.html (Trunk's own wasm
// loader included) into a file named by its content hash, so the app runs under a
// Content-Security-Policy without 'unsafe-inline'. Fails the build on inline styles or event
// handler attributes, which such a policy would block too.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const dir = process.env.TRUNK_STAGING_DIR || process.argv[2];
if (!dir) {
  console.error('externalize-inline-scripts: no TRUNK_STAGING_DIR (run it as a Trunk post_build hook, or pass the folder)');
  process.exit(2);
}
const file = path.join(dir, 'index.html');
let html = fs.readFileSync(file, 'utf8');
const publicUrl = process.env.TRUNK_PUBLIC_URL || '/';

let moved = 0;
html = html.replace(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi, (whole, attrs, body) => {
  if (/(^|\s)src\s*=/.test(attrs) || body.trim() === '') return whole;
  // `trunk serve`'s live-reload script gets its address filled in only inside HTML; it exists
  // only in development, where no CSP applies.
  if (body.includes('__TRUNK_ADDRESS__') || body.includes('{{__TRUNK')) return whole;
  const hash = crypto.createHash('sha256').update(body).digest('hex').slice(0, 16);
  const name = `loader-${hash}.js`;
  fs.writeFileSync(path.join(dir, name), body.trim() + '\n');
  moved += 1;
  return `<script${attrs} src="${publicUrl}${name}"></script>`;
});

const problems = [];
if (/<style\b/i.test(html)) problems.push('an inline <style> element');
if (/\sstyle\s*=/i.test(html)) problems.push('a style="" attribute');
if (/\son[a-z]+\s*=/i.test(html)) problems.push('an on…="" event handler attribute');
if (problems.length) {
  console.error(`externalize-inline-scripts: ${file} has ${problems.join(', ')}; move it into a file (the app's CSP forbids inline code)`);
  process.exit(1);
}
fs.writeFileSync(file, html);
console.log(`externalize-inline-scripts: moved ${moved} inline script(s) of ${file} into files`);
