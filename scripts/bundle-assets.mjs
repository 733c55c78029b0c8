// Bundle the browser libraries that npm ships only as ES modules (no dist build) into one script each, served by
// Flask from webapp/static/vendor/ (git-ignored build output, like the compiled translations). Run at set-up
// (`make setup`) after `npm ci`; rebuilds only when the bundle is older than the installed package.
//   bpmn-js-token-simulation → window.BpmnJSTokenSimulation (the modeler's additionalModules entry)
import { build } from 'esbuild';
import { mkdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'webapp', 'static', 'vendor');
const bundles = [
  {
    name: 'bpmn-js-token-simulation',
    global: 'BpmnJSTokenSimulation',
    source: "export { default } from 'bpmn-js-token-simulation';",
  },
];

mkdirSync(out, { recursive: true });
for (const b of bundles) {
  const target = join(out, `${b.name}.js`);
  const pkg = join(root, 'node_modules', b.name, 'package.json');
  if (existsSync(target) && statSync(target).mtimeMs >= statSync(pkg).mtimeMs) continue;
  await build({
    stdin: { contents: b.source, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'iife',
    globalName: `${b.global}Bundle`,
    footer: { js: `window.${b.global}=${b.global}Bundle.default;` },
    target: ['es2019'],
    legalComments: 'inline',
    outfile: target,
    logLevel: 'warning',
  });
  console.log(`bundled ${b.name} → ${target}`);
}
