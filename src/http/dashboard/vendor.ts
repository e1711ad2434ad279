import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** A third-party file served by the gateway itself (never a CDN), at a path named by its content. */
export interface VendorAsset {
  /** `/assets/uplot-<hash>.js`: a new version is a new URL, so browsers may keep it for a year. */
  path: string;
  /** Subresource integrity for the tag that loads it. */
  integrity: string;
  type: string;
  body: string;
}

const require = createRequire(import.meta.url);

function load(file: string, name: string, ext: 'js' | 'css', type: string): VendorAsset {
  const body = readFileSync(require.resolve(file), 'utf8');
  const digest = createHash('sha256').update(body).digest();
  return { path: `/assets/${name}-${digest.toString('hex').slice(0, 16)}.${ext}`, integrity: `sha256-${digest.toString('base64')}`, type, body };
}

let cached: { uplotJs: VendorAsset; uplotCss: VendorAsset } | undefined;

/** uPlot (the overview's charts), read from node_modules once, when the dashboard is first built. */
export function vendorAssets(): { uplotJs: VendorAsset; uplotCss: VendorAsset } {
  cached ??= {
    uplotJs: load('uplot/dist/uPlot.iife.min.js', 'uplot', 'js', 'text/javascript; charset=utf-8'),
    uplotCss: load('uplot/dist/uPlot.min.css', 'uplot', 'css', 'text/css; charset=utf-8'),
  };
  return cached;
}
