import * as fs from 'node:fs';
import * as path from 'node:path';

/** The checkout root (where package.json is), whether running from src/ (tests) or dist/src/. */
export const PROJECT_ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error('cannot locate package.json above ' + __dirname);
    dir = up;
  }
  return dir;
})();

export const VERSION: string = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).version;
